// The two-user check of issue 7 over real HTTP: user A's collection holds a document with a
// unique word; user B, granted only another collection, reaches it through no endpoint (JSON
// API search, ask and its stream, documents, document, original, chunks, status, jobs; OpenAI
// chat completions, streamed and not; embeddings), with a session cookie or an API key: not
// the word, not the title, not its existence in counts, not a citation. User A can.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/FilePartSource.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cloister/app/accounts.h"
#include "cloister/web/auth.h"
#include "cloister/web/server.h"
#include "fixtures/fixtures.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;

constexpr char kWord[] = "quokkaberry";          // only in A's document (and its title)
constexpr char kTitleWord[] = "Marmalade";       // A's title
constexpr char kQuestion[] = "What does the harvest protocol say about sorting?";

struct Response {
  int status = 0;
  std::string body;
  std::string content_type;
  Poco::JSON::Object::Ptr json;
};

// Who calls, and how: a session cookie (with its CSRF token) or an API key.
struct Credential {
  std::string label;
  std::map<std::string, std::string> headers;
  std::string csrf;
};

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class PermissionHttpTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.ingest.worker_binary = CLOISTER_BINARY;
    fs::create_directories(config_.models_dir);
    fs::copy_file(fixtures::TinyEmbeddingModel(), config_.models_dir / "tiny-embed.gguf");
    Write(dir_ / "a/harvest.md", std::string("# ") + kTitleWord + " " + kWord +
                                     " protocol\n\nThe harvest protocol says the " + kWord +
                                     " crop is sorted by hand before sorting machines run.\n");
    Write(dir_ / "b/canteen.md", "# Canteen\n\nThe canteen opens at noon and closes at three.\n");
    auto accounts = app::Accounts::Open(config_);
    ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
    accounts_ = std::move(accounts).value();
    ASSERT_TRUE(accounts_->AddCollection("a-docs", (dir_ / "a").string()).ok());
    ASSERT_TRUE(accounts_->AddCollection("b-docs", (dir_ / "b").string()).ok());
    AddUser("anna", "annas password");
    AddUser("bert", "berts password");
    ASSERT_TRUE(accounts_->Grant("anna", "a-docs").ok());
    ASSERT_TRUE(accounts_->Grant("bert", "b-docs").ok());

    auto kb = app::KnowledgeBase::Open(config_);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    auto ingested = kb_->Ingest({dir_ / "a", dir_ / "b"}, {});
    ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
    ASSERT_EQ(ingested->documents, 2);
    auto all = kb_->ListDocuments(app::Caller::Everything(), 0, 10);
    ASSERT_TRUE(all.ok());
    for (const auto& d : all->documents) (d.collection == "a-docs" ? doc_a_ : doc_b_) = d.id;
    ASSERT_NE(doc_a_, 0);
    ASSERT_NE(doc_b_, 0);

    server_ = std::make_unique<Server>(*kb_, ServerOptions{.bind = "127.0.0.1", .port = 0, .auth = true});
    ASSERT_TRUE(server_->Start().ok());
  }

  void AddUser(const std::string& name, const std::string& password) {
    auto hash = HashPassword(password);
    ASSERT_TRUE(hash.ok());
    ASSERT_TRUE(accounts_->AddUser(name, "user", *hash).ok());
  }

  Response Send(Poco::Net::HTTPRequest& request, const std::string& body) {
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    session.setTimeout(Poco::Timespan(120, 0));
    if (!body.empty()) {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    Response r;
    Poco::StreamCopier::copyToString(in, r.body);
    r.status = response.getStatus();
    r.content_type = response.getContentType();
    if (r.content_type.rfind("application/json", 0) == 0 && !r.body.empty()) {
      r.json = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
    }
    return r;
  }

  Response Call(const Credential& who, const std::string& method, const std::string& uri,
                const std::string& body = "") {
    Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : who.headers) request.set(k, v);
    if (method != "GET" && !who.csrf.empty()) request.set("X-CSRF-Token", who.csrf);
    return Send(request, body);
  }

  Response Upload(const Credential& who, const std::string& collection) {
    fs::path file = dir_ / "upload.txt";
    Write(file, "An uploaded note about lunch.");
    Poco::Net::HTMLForm form;
    form.setEncoding(Poco::Net::HTMLForm::ENCODING_MULTIPART);
    if (!collection.empty()) form.set("collection", collection);
    form.addPart("file", new Poco::Net::FilePartSource(file.string(), "note.txt", "text/plain"));
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request("POST", "/api/v1/documents", Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : who.headers) request.set(k, v);
    if (!who.csrf.empty()) request.set("X-CSRF-Token", who.csrf);
    form.prepareSubmit(request);
    form.write(session.sendRequest(request));
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    Response r;
    Poco::StreamCopier::copyToString(in, r.body);
    r.status = response.getStatus();
    r.json = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
    return r;
  }

  // Both ways in for one user.
  std::vector<Credential> CredentialsOf(const std::string& user, const std::string& password) {
    std::vector<Credential> out;
    Poco::Net::HTTPRequest login("POST", "/api/v1/login", Poco::Net::HTTPMessage::HTTP_1_1);
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    std::string body = R"({"name": ")" + user + R"(", "password": ")" + password + R"("})";
    login.setContentType("application/json");
    login.setContentLength(static_cast<std::streamsize>(body.size()));
    session.sendRequest(login) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::string reply;
    Poco::StreamCopier::copyToString(in, reply);
    EXPECT_EQ(response.getStatus(), 200) << reply;
    std::string cookie = response.get("Set-Cookie", "");
    auto json = Poco::JSON::Parser().parse(reply).extract<Poco::JSON::Object::Ptr>();
    out.push_back({user + " (session)", {{"Cookie", cookie.substr(0, cookie.find(';'))}},
                   json->getValue<std::string>("csrf_token")});
    auto key = MakeApiKey();
    EXPECT_TRUE(key.ok());
    EXPECT_TRUE(accounts_->AddApiKey(user, key->hash, key->prefix).ok());
    out.push_back({user + " (API key)", {{"Authorization", "Bearer " + key->key}}, ""});
    return out;
  }

  // Every endpoint that can reveal content, as one user sees it: label -> response.
  std::map<std::string, Response> Tour(const Credential& who) {
    std::map<std::string, Response> r;
    const std::string a = std::to_string(doc_a_);
    r["search GET"] = Call(who, "GET", "/api/v1/search?q=harvest+protocol+sorting");
    r["search POST"] = Call(who, "POST", "/api/v1/search", R"({"query": "harvest protocol sorting", "k": 5})");
    r["ask"] = Call(who, "POST", "/api/v1/ask", std::string(R"({"question": ")") + kQuestion + R"("})");
    r["ask stream"] = Call(who, "POST", "/api/v1/ask",
                           std::string(R"({"question": ")") + kQuestion + R"(", "stream": true})");
    r["documents"] = Call(who, "GET", "/api/v1/documents");
    r["document"] = Call(who, "GET", "/api/v1/documents/" + a);
    r["original"] = Call(who, "GET", "/api/v1/documents/" + a + "/original");
    r["chunks"] = Call(who, "GET", "/api/v1/documents/" + a + "/chunks");
    r["status"] = Call(who, "GET", "/api/v1/status");
    r["chat"] = Call(who, "POST", "/v1/chat/completions",
                     std::string(R"({"model": "cloister", "messages": [{"role": "user", "content": ")") +
                         kQuestion + R"("}]})");
    r["chat stream"] = Call(who, "POST", "/v1/chat/completions",
                            std::string(R"({"model": "cloister", "stream": true, "messages": [{"role": "user", "content": ")") +
                                kQuestion + R"("}]})");
    r["embeddings"] = Call(who, "POST", "/v1/embeddings", R"({"input": "harvest protocol"})");
    return r;
  }

  fixtures::TempDir dir_;
  app::Config config_;
  std::unique_ptr<app::Accounts> accounts_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<Server> server_;
  int64_t doc_a_ = 0, doc_b_ = 0;
};

bool Mentions(const std::string& body, const std::string& word) {
  return body.find(word) != std::string::npos;
}

TEST_F(PermissionHttpTest, UserBReachesUserAsDocumentThroughNoEndpoint) {
  for (const Credential& bert : CredentialsOf("bert", "berts password")) {
    std::map<std::string, Response> seen = Tour(bert);
    for (const auto& [endpoint, r] : seen) {
      EXPECT_FALSE(Mentions(r.body, kWord)) << bert.label << " " << endpoint << ": " << r.body;
      EXPECT_FALSE(Mentions(r.body, kTitleWord)) << bert.label << " " << endpoint << ": " << r.body;
      EXPECT_FALSE(Mentions(r.body, "harvest.md")) << bert.label << " " << endpoint << ": " << r.body;
    }
    for (const char* e : {"search GET", "search POST", "ask", "documents", "status", "chat", "embeddings"}) {
      EXPECT_EQ(seen[e].status, 200) << bert.label << " " << e << ": " << seen[e].body;
    }
    // Hidden is missing: the same 404 as an id nobody has.
    Response missing = Call(bert, "GET", "/api/v1/documents/987654");
    for (const char* e : {"document", "original", "chunks"}) {
      EXPECT_EQ(seen[e].status, 404) << bert.label << " " << e;
      EXPECT_EQ(seen[e].json->getObject("error")->getValue<std::string>("code"), "not_found");
    }
    EXPECT_EQ(seen["document"].json->getObject("error")->getValue<std::string>("message"),
              "document " + std::to_string(doc_a_) + " does not exist");
    EXPECT_EQ(missing.json->getObject("error")->getValue<std::string>("message"),
              "document 987654 does not exist");
    // Counts: B's one document only.
    EXPECT_EQ(seen["documents"].json->getValue<int64_t>("total"), 1) << seen["documents"].body;
    EXPECT_EQ(seen["status"].json->getValue<int64_t>("documents"), 1) << seen["status"].body;
    EXPECT_EQ(seen["status"].json->getValue<int64_t>("chunks"), 1);
    EXPECT_EQ(seen["status"].json->getObject("index")->getValue<int64_t>("size"), 1);
    // No result, passage or citation from A's document.
    for (const char* e : {"search GET", "search POST"}) {
      auto results = seen[e].json->getArray("results");
      for (size_t i = 0; i < results->size(); ++i) {
        EXPECT_NE(results->getObject(static_cast<unsigned>(i))->getObject("document")->getValue<int64_t>("id"), doc_a_);
      }
    }
    auto sources = seen["ask"].json->getArray("sources");
    for (size_t i = 0; sources && i < sources->size(); ++i) {
      EXPECT_NE(sources->getObject(static_cast<unsigned>(i))->getObject("document")->getValue<int64_t>("id"), doc_a_);
    }
    // The word itself, searched for: only B's own passage (vector search always finds the
    // nearest readable one), never A's.
    Response word = Call(bert, "GET", std::string("/api/v1/search?q=") + kWord);
    ASSERT_EQ(word.status, 200);
    auto found = word.json->getArray("results");
    for (size_t i = 0; i < found->size(); ++i) {
      auto hit = found->getObject(static_cast<unsigned>(i));
      EXPECT_EQ(hit->getObject("document")->getValue<int64_t>("id"), doc_b_) << word.body;
      EXPECT_FALSE(Mentions(hit->getValue<std::string>("text"), kWord));
    }
    // Choosing A's collection is like naming one that does not exist.
    Response chosen = Call(bert, "POST", "/api/v1/search",
                           std::string(R"({"query": ")") + kWord + R"(", "filters": {"collection": "a-docs"}})");
    Response unknown = Call(bert, "POST", "/api/v1/search",
                            std::string(R"({"query": ")") + kWord + R"(", "filters": {"collection": "zz-docs"}})");
    EXPECT_EQ(chosen.status, 404);
    EXPECT_EQ(unknown.status, 404);
  }
}

TEST_F(PermissionHttpTest, UserASeesTheWordEverywhereBIsRefused) {
  for (const Credential& anna : CredentialsOf("anna", "annas password")) {
    std::map<std::string, Response> seen = Tour(anna);
    for (const char* e : {"search GET", "search POST", "ask", "ask stream", "documents", "document",
                          "chunks", "chat", "chat stream"}) {
      EXPECT_TRUE(Mentions(seen[e].body, kWord)) << anna.label << " " << e << ": " << seen[e].body;
    }
    EXPECT_EQ(seen["original"].status, 200);
    EXPECT_TRUE(Mentions(seen["original"].body, kWord));
    EXPECT_EQ(seen["documents"].json->getValue<int64_t>("total"), 1);
    EXPECT_EQ(seen["status"].json->getValue<int64_t>("documents"), 1);
    EXPECT_FALSE(Mentions(seen["documents"].body, "canteen")) << "and A does not see B's";
    auto sources = seen["ask"].json->getArray("sources");
    ASSERT_TRUE(sources && sources->size() > 0) << seen["ask"].body;
    EXPECT_EQ(sources->getObject(0)->getObject("document")->getValue<int64_t>("id"), doc_a_);
  }
}

TEST_F(PermissionHttpTest, UploadsChooseTheirCollectionAndJobsStayWithIt) {
  auto anna = CredentialsOf("anna", "annas password");
  auto bert = CredentialsOf("bert", "berts password");
  for (const auto& b : bert) {
    Response into_a = Upload(b, "a-docs");
    EXPECT_EQ(into_a.status, 403) << into_a.body;
    EXPECT_EQ(into_a.json->getObject("error")->getValue<std::string>("code"), "permission_denied");
    EXPECT_EQ(Upload(b, "").status, 403) << "no grant on the default collection";
    EXPECT_EQ(Upload(b, "nowhere").status, 403);
  }
  Response mine = Upload(anna[1], "a-docs");
  ASSERT_EQ(mine.status, 202) << mine.body;
  int64_t job = mine.json->getArray("jobs")->getObject(0)->getValue<int64_t>("id");
  EXPECT_EQ(Call(anna[0], "GET", "/api/v1/jobs/" + std::to_string(job)).status, 200);
  for (const auto& b : bert) {
    Response theirs = Call(b, "GET", "/api/v1/jobs/" + std::to_string(job));
    EXPECT_EQ(theirs.status, 404) << b.label << ": " << theirs.body;
    EXPECT_EQ(theirs.json->getObject("error")->getValue<std::string>("message"),
              "job " + std::to_string(job) + " does not exist");
  }
  Response bs = Upload(bert[0], "b-docs");
  EXPECT_EQ(bs.status, 202) << bs.body;
}

}  // namespace
}  // namespace cloister::web
