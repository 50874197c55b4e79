#include "cloister/web/server.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/FilePartSource.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "cloister/web/json.h"
#include "fixtures/fixtures.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;

struct Response {
  int status = 0;
  std::string content_type;
  std::string body;
  Poco::JSON::Object::Ptr json;
  std::string retry_after;
};

// "event: NAME\ndata: JSON\n\n" blocks, in order.
std::vector<std::pair<std::string, Poco::JSON::Object::Ptr>> Events(const std::string& text) {
  std::vector<std::pair<std::string, Poco::JSON::Object::Ptr>> out;
  std::istringstream in(text);
  std::string line, name;
  while (std::getline(in, line)) {
    if (line.rfind("event: ", 0) == 0) name = line.substr(7);
    if (line.rfind("data: ", 0) == 0) {
      out.emplace_back(name, Poco::JSON::Parser().parse(line.substr(6)).extract<Poco::JSON::Object::Ptr>());
    }
  }
  return out;
}

class ServerTest : public testing::Test {
 protected:
  void SetUp() override {
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    config.ingest.worker_binary = CLOISTER_BINARY;
    config.ingest.ocr = false;
    std::filesystem::create_directories(config.models_dir);
    if (with_chat_model_) std::filesystem::copy_file(fixtures::StoriesModel(), config.models_dir / "stories.gguf");
    config.answer.slots = slots_;
    config.answer.queue = queue_;
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    server_ = std::make_unique<Server>(*kb_, ServerOptions{.bind = "127.0.0.1", .port = 0,
                                                           .max_upload_bytes = max_upload_bytes_});
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override { server_.reset(); }

  void IngestPaper() {
    auto r = kb_->Ingest({fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf"}, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  Response Call(const std::string& method, const std::string& uri, const std::string& body = "",
                const std::string& accept = "") {
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!accept.empty()) request.set("Accept", accept);
    if (!body.empty()) {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::string text;
    Poco::StreamCopier::copyToString(in, text);
    Response r;
    r.status = response.getStatus();
    r.content_type = response.getContentType();
    r.body = text;
    r.retry_after = response.get("Retry-After", "");
    if (r.content_type.rfind("application/json", 0) == 0) {
      r.json = Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
    }
    return r;
  }

  // POSTs files as multipart/form-data parts named "file", each under the given file name.
  Response Upload(const std::vector<std::pair<std::filesystem::path, std::string>>& files) {
    Poco::Net::HTMLForm form;
    form.setEncoding(Poco::Net::HTMLForm::ENCODING_MULTIPART);
    for (const auto& [path, name] : files) {
      form.addPart("file", new Poco::Net::FilePartSource(path.string(), name, "application/octet-stream"));
    }
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request("POST", "/api/v1/documents", Poco::Net::HTTPMessage::HTTP_1_1);
    form.prepareSubmit(request);
    form.write(session.sendRequest(request));
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    Response r;
    r.status = response.getStatus();
    Poco::StreamCopier::copyToString(in, r.body);
    r.json = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
    return r;
  }

  // Polls a job until it is done or failed (at most 60 s).
  Poco::JSON::Object::Ptr WaitForJob(int64_t id) {
    Poco::JSON::Object::Ptr job;
    for (int i = 0; i < 600; ++i) {
      job = Call("GET", "/api/v1/jobs/" + std::to_string(id)).json;
      std::string state = job->getValue<std::string>("state");
      if (state == "done" || state == "failed") return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "job " << id << " did not finish";
    return job;
  }

  bool with_chat_model_ = false;
  uint64_t max_upload_bytes_ = 512ull << 20;
  uint32_t slots_ = 4;
  uint32_t queue_ = 16;

  fixtures::TempDir dir_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, HealthAnswersOkJson) {
  Response r = Call("GET", "/api/v1/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(r.json->getValue<std::string>("status"), "ok");
  EXPECT_FALSE(r.json->getValue<std::string>("version").empty());
}

TEST_F(ServerTest, StatusMatchesTheCliRendering) {
  Response r = Call("GET", "/api/v1/status");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json->getValue<int>("documents"), 0);
  EXPECT_EQ(r.json->getValue<std::string>("retrieval_mode"), "lexical");
  auto report = kb_->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(r.body, StatusJson(*report));
}

TEST_F(ServerTest, UnknownPathIsJson404) {
  Response r = Call("GET", "/no/such/thing");
  EXPECT_EQ(r.status, 404);
  auto error = r.json->getObject("error");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->getValue<std::string>("code"), "not_found");
  EXPECT_NE(error->getValue<std::string>("message").find("/no/such/thing"), std::string::npos);
}

TEST_F(ServerTest, WrongMethodIsJson405) {
  Response r = Call("DELETE", "/api/v1/health");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.json->getObject("error")->getValue<std::string>("code"), "invalid_argument");
}

TEST_F(ServerTest, StopIsPromptAndIdempotent) {
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(ServerTest, SearchByQueryStringAndByJsonGivesTheCliAnswer) {
  IngestPaper();
  Response get = Call("GET", "/api/v1/search?q=loop%20becomes%20hot%20crossings&k=3&type=pdf");
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.json->getValue<std::string>("mode"), "lexical");
  ASSERT_EQ(get.json->getArray("results")->size(), 3u);
  Response post = Call("POST", "/api/v1/search",
                       R"({"query": "loop becomes hot crossings", "k": 3, "filters": {"types": ["pdf"]}})");
  ASSERT_EQ(post.status, 200) << post.body;
  app::SearchOptions o = app::SearchDefaults(kb_->config());
  o.k = 3;
  o.filters.types = {"pdf"};
  auto direct = kb_->Search(cloister::app::Caller::Everything(), "loop becomes hot crossings", o);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(post.body, SearchJson(*direct));
  EXPECT_EQ(get.body, post.body);
  EXPECT_EQ(Call("GET", "/api/v1/search?q=x&type=email").json->getArray("results")->size(), 0u);
}

TEST_F(ServerTest, BadSearchesAreJson400sAndHostileQueriesAreFine) {
  EXPECT_EQ(Call("GET", "/api/v1/search?q=x&k=0").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/search?q=x&mode=psychic").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/search?q=x&after=yesterday").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/search", "{not json").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/search", "[1, 2]").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/search?q=x&mode=vector").status, 422);  // no embedding model
  for (const char* q : {"%22", "NEAR(", "*", "%F0%9F%98%80", "(((", ""}) {
    Response r = Call("GET", std::string("/api/v1/search?q=") + q);
    EXPECT_EQ(r.status, 200) << q << ": " << r.body;
  }
  Response huge = Call("POST", "/api/v1/search", "{\"query\": \"" + std::string(2 << 20, 'x') + "\"}");
  EXPECT_EQ(huge.status, 413);
  EXPECT_EQ(huge.json->getObject("error")->getValue<std::string>("code"), "invalid_argument");
}

TEST_F(ServerTest, AskAnswersWithSourcesAsTheCliDoes) {
  IngestPaper();
  Response r = Call("POST", "/api/v1/ask", R"({"question": "After how many crossings does a loop become hot?"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json->getValue<std::string>("mode"), "extractive");
  EXPECT_NE(r.json->getValue<std::string>("answer").find("2 crossings"), std::string::npos) << r.body;
  EXPECT_EQ(r.json->getArray("sources")->getObject(0)->getValue<int>("page"), 2);
  auto direct = kb_->Ask(cloister::app::Caller::Everything(), "After how many crossings does a loop become hot?", {});
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(r.json->getValue<std::string>("answer"), direct->text);
  EXPECT_EQ(Call("POST", "/api/v1/ask", R"({"question": "  "})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/ask", R"({"question": "x", "history": [{"role": "system"}]})").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/ask").status, 405);
}

TEST_F(ServerTest, UploadedFilesAreIngestedListedReadDownloadedAndDeleted) {
  fs::path paper = fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf";
  fs::path other = fixtures::SharedDir() / "corpus/pdfs/sample-files/multicolumn.pdf";
  Response up = Upload({{paper, "tracemonkey.pdf"}, {other, "../../etc/passwd\x01.pdf"}});
  ASSERT_EQ(up.status, 202) << up.body;
  auto jobs = up.json->getArray("jobs");
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ(jobs->getObject(0)->getValue<std::string>("name"), "tracemonkey.pdf");
  EXPECT_EQ(jobs->getObject(1)->getValue<std::string>("name"), "passwd.pdf");  // no path, no control
  auto done = WaitForJob(jobs->getObject(0)->getValue<int64_t>("id"));
  EXPECT_EQ(done->getValue<std::string>("state"), "done");
  EXPECT_EQ(done->getValue<double>("progress"), 1.0);
  int64_t doc = done->getValue<int64_t>("document_id");
  EXPECT_EQ(WaitForJob(jobs->getObject(1)->getValue<int64_t>("id"))->getValue<std::string>("state"), "done");

  Response list = Call("GET", "/api/v1/documents?limit=10");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_GE(list.json->getValue<int>("total"), 1);
  bool listed = false;
  auto docs = list.json->getArray("documents");
  for (size_t i = 0; i < docs->size(); ++i) listed |= docs->getObject(static_cast<unsigned>(i))->getValue<int64_t>("id") == doc;
  EXPECT_TRUE(listed) << list.body;

  Response one = Call("GET", "/api/v1/documents/" + std::to_string(doc));
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.json->getValue<std::string>("name"), "tracemonkey.pdf");
  EXPECT_EQ(one.json->getValue<int>("pages"), 14);
  EXPECT_EQ(one.json->getValue<std::string>("status"), "ready");

  Response chunks = Call("GET", "/api/v1/documents/" + std::to_string(doc) + "/chunks");
  ASSERT_EQ(chunks.status, 200);
  bool page2 = false;
  auto list_chunks = chunks.json->getArray("chunks");
  for (size_t i = 0; i < list_chunks->size(); ++i) {
    auto c = list_chunks->getObject(static_cast<unsigned>(i));
    if (c->getValue<std::string>("text").find("currently after 2 crossings") != std::string::npos) {
      page2 = c->getValue<int>("page") == 2;
    }
  }
  EXPECT_TRUE(page2);

  Response original = Call("GET", "/api/v1/documents/" + std::to_string(doc) + "/original");
  EXPECT_EQ(original.status, 200);
  std::ifstream in(paper, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(original.body, bytes);

  std::string kept = one.json->getValue<std::string>("path");
  EXPECT_TRUE(fs::exists(kept));
  Response deleted = Call("DELETE", "/api/v1/documents/" + std::to_string(doc));
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(Call("GET", "/api/v1/documents/" + std::to_string(doc)).status, 404);
  EXPECT_FALSE(fs::exists(kept));  // an upload goes with its document
  EXPECT_EQ(Call("GET", "/api/v1/jobs/999999").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/documents/abc").status, 404);
}

TEST_F(ServerTest, UploadsThatAreNotMultipartOrHaveNoFileAre400) {
  EXPECT_EQ(Call("POST", "/api/v1/documents", R"({"file": "x"})").status, 400);
  Poco::Net::HTMLForm form;
  form.setEncoding(Poco::Net::HTMLForm::ENCODING_MULTIPART);
  form.set("comment", "no file here");
  Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
  Poco::Net::HTTPRequest request("POST", "/api/v1/documents", Poco::Net::HTTPMessage::HTTP_1_1);
  form.prepareSubmit(request);
  form.write(session.sendRequest(request));
  Poco::Net::HTTPResponse response;
  session.receiveResponse(response);
  EXPECT_EQ(response.getStatus(), 400);
}

class SmallUploadServerTest : public ServerTest {
 protected:
  void SetUp() override {
    max_upload_bytes_ = 1000;
    ServerTest::SetUp();
  }
};

TEST_F(SmallUploadServerTest, AFileOverTheLimitIs413AndNothingIsKept) {
  Response r = Upload({{fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf", "big.pdf"}});
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(Call("GET", "/api/v1/documents").json->getValue<int>("total"), 0);
  std::error_code ec;
  size_t staged = 0;
  for (auto it = fs::recursive_directory_iterator(kb_->config().uploads_dir(), ec); !ec && it != fs::recursive_directory_iterator(); ++it) {
    staged += it->is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(staged, 0u);
}

class StreamingServerTest : public ServerTest {
 protected:
  void SetUp() override {
    with_chat_model_ = true;
    ServerTest::SetUp();
  }
};

TEST_F(StreamingServerTest, AskStreamsTokensThenSourcesThenDone) {
  IngestPaper();
  Response r = Call("POST", "/api/v1/ask",
                    R"({"question": "After how many crossings does a loop become hot?", "k": 2, "max_tokens": 24})",
                    "text/event-stream");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "text/event-stream; charset=utf-8");
  auto events = Events(r.body);
  ASSERT_GE(events.size(), 4u) << r.body;
  std::string streamed;
  size_t i = 0;
  for (; i < events.size() && events[i].first == "token"; ++i) streamed += events[i].second->getValue<std::string>("text");
  EXPECT_GT(i, 1u);  // several token events
  ASSERT_EQ(events.size(), i + 2) << r.body;
  EXPECT_EQ(events[i].first, "sources");
  EXPECT_TRUE(events[i].second->has("sentences"));
  EXPECT_EQ(events[i + 1].first, "done");
  auto done = events[i + 1].second;
  EXPECT_EQ(done->getValue<std::string>("mode"), "generated");
  EXPECT_FALSE(done->getValue<std::string>("answer").empty());
  EXPECT_GT(done->getObject("usage")->getValue<int>("completion_tokens"), 0);
  EXPECT_FALSE(streamed.empty());
}

class BusyServerTest : public ServerTest {
 protected:
  void SetUp() override {
    with_chat_model_ = true;
    slots_ = 1;
    queue_ = 0;
    ServerTest::SetUp();
  }
};

// One slot, no queue: while one answer is written, the others are refused at once with 503 and
// Retry-After, as JSON; none is lost or hangs.
TEST_F(BusyServerTest, AsksBeyondTheSlotsAndQueueAre503WithRetryAfter) {
  IngestPaper();
  std::vector<Response> replies(3);
  std::vector<std::thread> clients;
  for (auto& reply : replies) {
    clients.emplace_back([&] {
      reply = Call("POST", "/api/v1/ask",
                   R"({"question": "After how many crossings does a loop become hot?", "k": 2, "max_tokens": 300})");
    });
  }
  for (auto& c : clients) c.join();
  int ok = 0, busy = 0;
  for (const auto& r : replies) {
    if (r.status == 200) ++ok;
    if (r.status == 503) {
      ++busy;
      EXPECT_FALSE(r.retry_after.empty());
      EXPECT_EQ(r.json->getObject("error")->getValue<std::string>("code"), "unavailable");
    }
  }
  EXPECT_EQ(ok + busy, 3);
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
}

TEST(HttpStatusForTest, MapsEveryCodeAsStyleSays) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 422);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
}

TEST(ServerStartTest, PortInUseIsFailedPreconditionNamingTheAddress) {
  fixtures::TempDir dir;
  app::Config config;
  config.data_dir = dir / "data";
  auto kb = app::KnowledgeBase::Open(config);
  ASSERT_TRUE(kb.ok());
  Server first(**kb, {.bind = "127.0.0.1", .port = 0});
  ASSERT_TRUE(first.Start().ok());
  Server second(**kb, {.bind = "127.0.0.1", .port = first.port()});
  Status s = second.Start();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(std::to_string(first.port())), std::string::npos);
}

TEST(ErrorJsonTest, CarriesCodeMessageAndHint) {
  auto o = Poco::JSON::Parser().parse(ErrorJson(NotFound("no document 7"), "list documents"))
               .extract<Poco::JSON::Object::Ptr>();
  auto e = o->getObject("error");
  EXPECT_EQ(e->getValue<std::string>("code"), "not_found");
  EXPECT_EQ(e->getValue<std::string>("message"), "no document 7");
  EXPECT_EQ(e->getObject("details")->getValue<std::string>("hint"), "list documents");
}

}  // namespace
}  // namespace cloister::web
