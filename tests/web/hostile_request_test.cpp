// Malformed and hostile requests, sent over raw sockets: each gets a 4xx JSON error (never an HTML
// page, a 500 or a silent drop), nothing escapes the data folder, and the server keeps serving.
#include <Poco/JSON/Array.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cloister/web/server.h"
#include "fixtures/fixtures.h"
#include "raw_http.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;
using namespace rawhttp;
using Clock = std::chrono::steady_clock;

class HostileRequestTest : public testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // the tests write to connections the server has closed
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    config.ingest.worker_binary = CLOISTER_BINARY;
    config.ingest.ocr = false;
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    ServerOptions options;
    options.port = 0;
    options.header_timeout_seconds = 1;
    server_ = std::make_unique<Server>(*kb_, options);
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_.reset(); }

  uint16_t port() const { return server_->port(); }

  void ExpectHealthy() {
    RawResponse r = Exchange(port(), Request("GET", "/api/v1/health"));
    EXPECT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(r.json) << r.body;
    EXPECT_EQ(r.json->getValue<std::string>("status"), "ok");
  }

  fixtures::TempDir dir_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<Server> server_;
};

// A complete JSON error with a status in [low, high], in Cloister's shape or (under /v1/)
// OpenAI's: both carry error.message.
void ExpectJsonError(const RawResponse& r, int low, int high, const std::string& what) {
  EXPECT_TRUE(r.complete) << what << ": " << r.headers << "\n" << r.body;
  EXPECT_GE(r.status, low) << what << ": " << r.body;
  EXPECT_LE(r.status, high) << what << ": " << r.body;
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8") << what;
  ASSERT_TRUE(r.json) << what << ": not JSON: " << r.body;
  auto error = r.json->getObject("error");
  ASSERT_TRUE(error) << what << ": " << r.body;
  EXPECT_FALSE(error->getValue<std::string>("message").empty()) << what;
}

TEST_F(HostileRequestTest, BadJsonIsA400JsonErrorOnEveryEndpointThatReadsJson) {
  for (const char* path :
       {"/api/v1/search", "/api/v1/ask", "/v1/chat/completions", "/v1/embeddings"}) {
    for (const std::string& body : std::vector<std::string>{"{not json", "[1, 2]", "\"text\"", "42",
                                                            "{\"question\": ", "{\"a\": 1,}",
                                                            std::string("{\"q\0\": 1}", 9)}) {
      ExpectJsonError(Exchange(port(), Request("POST", path, body)), 400, 400,
                      std::string(path) + " " + body);
    }
    ExpectHealthy();
  }
}

struct WrongType {
  const char* path;
  const char* body;
  const char* field;
};

TEST_F(HostileRequestTest, AFieldOfTheWrongTypeIsA400NamingIt) {
  const WrongType cases[] = {
      {"/api/v1/search", R"({"query": "x", "k": "5"})", "k"},
      {"/api/v1/search", R"({"query": 5})", "query"},
      {"/api/v1/search", R"({"query": "x", "filters": "pdf"})", "filters"},
      {"/api/v1/search", R"({"query": "x", "filters": {"types": [1]}})", "filters.types"},
      {"/api/v1/search", R"({"query": "x", "mmr": "yes"})", "mmr"},
      {"/api/v1/search", R"({"query": "x", "k": true})", "k"},
      {"/api/v1/ask", R"({"question": 42})", "question"},
      {"/api/v1/ask", R"({"question": ["x"]})", "question"},
      {"/api/v1/ask", R"({"question": "x", "k": "8"})", "k"},
      {"/api/v1/ask", R"({"question": "x", "k": 2.5})", "k"},
      {"/api/v1/ask", R"({"question": "x", "stream": "yes"})", "stream"},
      {"/api/v1/ask", R"({"question": "x", "temperature": "hot"})", "temperature"},
      {"/api/v1/ask", R"({"question": "x", "filters": [1]})", "filters"},
      {"/api/v1/ask", R"({"question": "x", "history": "none"})", "history"},
      {"/api/v1/ask", R"({"question": "x", "history": [{"role": "user", "content": 5}]})",
       "history[0].content"},
      {"/v1/chat/completions", R"({"messages": "hi"})", "messages"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "5"})", "max_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stream": 1})",
       "stream"},
      {"/v1/embeddings", R"({"input": 42})", "input"},
  };
  for (const auto& c : cases) {
    std::string what = std::string(c.path) + " " + c.body;
    RawResponse r = Exchange(port(), Request("POST", c.path, c.body));
    ExpectJsonError(r, 400, 400, what);
    if (!r.json) continue;
    auto error = r.json->getObject("error");
    if (std::string(c.path).rfind("/v1/", 0) == 0) {
      EXPECT_EQ(error->getValue<std::string>("param"), c.field) << what;
    } else {
      EXPECT_NE(error->getValue<std::string>("message").find("'" + std::string(c.field) + "'"),
                std::string::npos)
          << what << ": " << r.body;
    }
  }
  ExpectHealthy();
}

TEST_F(HostileRequestTest, AMissingRequiredFieldIsA400) {
  for (auto [path, body] : std::vector<std::pair<std::string, std::string>>{
           {"/api/v1/ask", "{}"},
           {"/api/v1/ask", R"({"k": 3})"},
           {"/api/v1/ask", ""},
           {"/v1/chat/completions", "{}"},
           {"/v1/chat/completions", R"({"messages": []})"},
           {"/v1/embeddings", "{}"}}) {
    ExpectJsonError(Exchange(port(), Request("POST", path, body)), 400, 400, path + " " + body);
  }
  ExpectHealthy();
}

// The header says 1 GiB and nothing follows: the refusal comes at once, without waiting for it.
TEST_F(HostileRequestTest, ADeclaredGigabyteBodyIsRefusedWith413WithoutReadingIt) {
  for (const char* path :
       {"/api/v1/search", "/api/v1/ask", "/v1/chat/completions", "/v1/embeddings"}) {
    std::string head = std::string("POST ") + path +
                       " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       "Content-Length: 1073741824\r\n\r\n{\"question\": \"";
    RawResponse r = Exchange(port(), head, std::chrono::seconds(5));
    ExpectJsonError(r, 413, 413, path);
    EXPECT_NE(r.headers.find("connection: close"), std::string::npos) << r.headers;
    if (r.json && std::string(path).rfind("/v1/", 0) == 0) {
      EXPECT_EQ(r.json->getObject("error")->getValue<std::string>("code"), "request_too_large");
    }
  }
  ExpectHealthy();
}

// A client that keeps sending (with a length, or chunked without one) gets its 413 while still
// sending, and the server stops reading long before the gigabyte.
TEST_F(HostileRequestTest, AGigabyteBodyBeingSentIsRefusedWith413BeforeItEnds) {
  for (bool chunked : {false, true}) {
    Poco::Net::StreamSocket socket = Connect(port());
    socket.setSendTimeout(Poco::Timespan(10, 0));
    std::string head =
        std::string("POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n") +
        "Content-Type: application/json\r\n" +
        (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 1073741824\r\n") + "\r\n";
    ASSERT_TRUE(SendAll(socket, head));
    std::atomic<uint64_t> sent{0};
    std::atomic<bool> stop{false};
    std::thread sender([&] {
      std::string piece(65536, ' ');
      if (chunked) piece = "10000\r\n" + piece + "\r\n";
      while (!stop && sent < (1ull << 30) && SendAll(socket, piece)) sent += 65536;
    });
    RawResponse r = ReadResponse(socket, std::chrono::seconds(30));
    stop = true;
    sender.join();
    std::string what = chunked ? "chunked" : "with Content-Length";
    ExpectJsonError(r, 413, 413, what);
    EXPECT_LT(sent.load(), 256ull << 20) << what << ": the server read on far past its limit";
  }
  ExpectHealthy();
}

// A naive client writes its whole body before it reads: the server, having refused the body
// unread, keeps reading (and discarding) a moment before it closes, or the close would reset the
// connection and the client would lose the 413 waiting in its buffer.
TEST_F(HostileRequestTest, AClientThatSendsItsWholeOversizedBodyBeforeReadingGetsThe413) {
  for (const char* path : {"/api/v1/search", "/v1/chat/completions"}) {
    std::string body = "{\"query\": \"" + std::string(6 << 20, 'x') + "\"}";
    Poco::Net::StreamSocket socket = Connect(port());
    socket.setSendTimeout(Poco::Timespan(20, 0));
    EXPECT_TRUE(SendAll(socket, Request("POST", path, body))) << path << ": reset while sending";
    ExpectJsonError(ReadResponse(socket), 413, 413, path);
  }
  ExpectHealthy();
}

// One byte every 200 ms: the headers are cut off after header_timeout_seconds (1 s here), while
// other clients are answered as usual.
TEST_F(HostileRequestTest, SlowHeadersAreCutOffWhileOtherClientsAreServed) {
  Poco::Net::StreamSocket slow = Connect(port());
  std::string request =
      "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(60, 'a') +
      "\r\n\r\n";
  std::atomic<double> cut_after{-1};
  std::atomic<size_t> bytes_sent{0};
  RawResponse seen;
  auto start = Clock::now();
  std::thread client([&] {
    for (char c : request) {
      if (!SendAll(slow, std::string(1, c))) break;
      ++bytes_sent;
      if (slow.poll(Poco::Timespan(0, 200000), Poco::Net::Socket::SELECT_READ))
        break;  // answered or closed
    }
    seen = ReadResponse(slow, std::chrono::seconds(5));
    cut_after = std::chrono::duration<double>(Clock::now() - start).count();
  });
  for (int i = 0; i < 6; ++i) {
    ExpectHealthy();
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  client.join();
  EXPECT_LT(bytes_sent.load(), request.size()) << "the slow client was never cut off";
  EXPECT_LT(cut_after.load(), 8.0);
  EXPECT_TRUE(seen.closed || seen.complete);
  if (seen.status != 0) ExpectJsonError(seen, 408, 408, "slow headers");
  ExpectHealthy();
}

TEST_F(HostileRequestTest, AConnectionThatSendsNothingIsClosed) {
  Poco::Net::StreamSocket silent = Connect(port());
  RawResponse r = ReadResponse(silent, std::chrono::seconds(8));
  EXPECT_TRUE(r.closed) << "a silent connection was kept open";
  EXPECT_EQ(r.status, 0);
  ExpectHealthy();
}

TEST_F(HostileRequestTest, HeadersOverTheLimitsAre431Json) {
  std::string many = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 150; ++i) many += "X-Field-" + std::to_string(i) + ": v\r\n";
  ExpectJsonError(Exchange(port(), many + "\r\n"), 431, 431, "150 header fields");
  std::string big =
      "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(9000, 'b') +
      "\r\n\r\n";
  ExpectJsonError(Exchange(port(), big), 431, 431, "a 9000-byte header value");
  std::string name = "GET /api/v1/health HTTP/1.1\r\n" + std::string(300, 'N') + ": v\r\n\r\n";
  ExpectJsonError(Exchange(port(), name), 400, 431, "a 300-byte header name");
  std::string url =
      "GET /api/v1/search?q=" + std::string(20000, 'u') + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ExpectJsonError(Exchange(port(), url), 400, 414, "a 20000-byte URL");
  ExpectHealthy();
}

TEST_F(HostileRequestTest, MalformedRequestLinesAndFramingAreJson4xx) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"an unknown HTTP version", "GET /api/v1/health HTTP/1.1x\r\n\r\n"},
      // Found by fuzz_http: as long as a real one, it was answered with "HTTPhost 200 OK".
      {"an unknown HTTP version of 8 bytes", "GET /api/v1/health HTTPhost\r\n\r\n"},
      {"a method too long", std::string(40, 'A') + " /api/v1/health HTTP/1.1\r\n\r\n"},
      {"no URL", "GARBAGE\r\n\r\n"},
      {"a TLS hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) +
                          std::string(40, '\x01') + "\r\n\r\n"},
      {"a Content-Length that is not a number",
       "POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n{}"},
      {"a bad percent escape",
       "GET /api/v1/search?q=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"},
  };
  for (const auto& [what, bytes] : cases) {
    RawResponse r = Exchange(port(), bytes, std::chrono::seconds(5));
    ExpectJsonError(r, 400, 431, what);
    EXPECT_EQ(r.body.find("<html"), std::string::npos) << what;
  }
  ExpectHealthy();
}

TEST_F(HostileRequestTest, AnErrorLeavesAKeptAliveConnectionUsable) {
  Poco::Net::StreamSocket socket = Connect(port());
  ASSERT_TRUE(SendAll(socket, Request("POST", "/api/v1/search", "{bad", "", /*keep_alive=*/true) +
                                  Request("GET", "/api/v1/nothing", "", "", true) +
                                  Request("GET", "/api/v1/health", "", "", false)));
  std::string carry;  // the responses may arrive together
  ExpectJsonError(ReadResponse(socket, std::chrono::seconds(20), &carry), 400, 400, "bad JSON");
  ExpectJsonError(ReadResponse(socket, std::chrono::seconds(20), &carry), 404, 404,
                  "no such endpoint");
  RawResponse health = ReadResponse(socket, std::chrono::seconds(20), &carry);
  EXPECT_EQ(health.status, 200) << health.body;
}

// Without Content-Length or chunked encoding a request has no body: waiting for one would hang
// until the socket timeout.
TEST_F(HostileRequestTest, APostWithoutALengthHasAnEmptyBodyRatherThanAHang) {
  RawResponse r =
      Exchange(port(), "POST /api/v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
               std::chrono::seconds(5));
  ExpectJsonError(r, 400, 400, "ask without a body");
  EXPECT_NE(r.body.find("'question' is required"), std::string::npos) << r.body;
}

TEST_F(HostileRequestTest, ExpectContinueIsAnsweredOnlyForABodyThatFits) {
  std::string too_big =
      "POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n";
  Poco::Net::StreamSocket refused = Connect(port());
  ASSERT_TRUE(SendAll(refused, too_big));
  char first[12] = {};
  ASSERT_EQ(refused.receiveBytes(first, 12), 12);
  EXPECT_EQ(std::string(first, 12), "HTTP/1.1 413");

  std::string body = R"({"query": "x"})";
  Poco::Net::StreamSocket socket = Connect(port());
  ASSERT_TRUE(SendAll(
      socket,
      "POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nExpect: 100-continue\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n"));
  char go[25] = {};
  ASSERT_EQ(socket.receiveBytes(go, 25), 25);
  EXPECT_EQ(std::string(go, 25), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(SendAll(socket, body));
  RawResponse r = ReadResponse(socket);
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(HostileRequestTest, InvalidUtf8InUrlsAndBodiesIsA400NeverA500) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a query", Request("GET", "/api/v1/search?q=%FF%FE")},
      {"an overlong slash", Request("GET", "/api/v1/search?q=%C0%AF")},
      {"a surrogate in the path", Request("GET", "/api/v1/%ED%A0%80")},
      {"raw bytes in the query", Request("GET", "/api/v1/search?q=\xff\xfe")},
      {"a model id", Request("GET", "/v1/models/%FF")},
      {"a search body", Request("POST", "/api/v1/search", "{\"query\": \"\xff\xfe\"}")},
      {"an ask body", Request("POST", "/api/v1/ask", "{\"question\": \"caf\xe9?\"}")},
      {"a chat body", Request("POST", "/v1/chat/completions",
                              "{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\x28\"}]}")},
      {"an embeddings body",
       Request("POST", "/v1/embeddings", "{\"input\": \"\xf5\x80\x80\x80\"}")},
  };
  for (const auto& [what, bytes] : cases) {
    RawResponse r = Exchange(port(), bytes);
    ExpectJsonError(r, 400, 400, what);  // parsed as JSON: the reply itself is valid UTF-8
    if (r.json) {
      EXPECT_NE(r.json->getObject("error")->getValue<std::string>("message").find("UTF-8"),
                std::string::npos)
          << what << ": " << r.body;
    }
  }
  RawResponse fine = Exchange(port(), Request("GET", "/api/v1/search?q=caf%C3%A9%20%F0%9F%98%80"));
  EXPECT_EQ(fine.status, 200) << fine.body;
  ExpectHealthy();
}

std::string Multipart(const std::string& filename, const std::string& content) {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename +
         "\"\r\nContent-Type: text/plain\r\n\r\n" + content + "\r\n--XyZ--\r\n";
}

RawResponse Upload(uint16_t port, const std::string& filename, const std::string& content) {
  std::string body = Multipart(filename, content);
  return Exchange(port,
                  "POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                  "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body);
}

// Every regular file under `root`, as paths relative to it.
std::set<std::string> FilesUnder(const fs::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_regular_file()) out.insert(fs::relative(it->path(), root).string());
  }
  return out;
}

TEST_F(HostileRequestTest, UploadNamesCannotPlaceAFileOutsideTheUploadsFolder) {
  const std::string absolute = "/tmp/cloister-hostile-" + std::to_string(::getpid()) + ".txt";
  const std::vector<std::string> names = {"../../etc/passwd",
                                          "..\\..\\escaped.txt",
                                          absolute,
                                          "C:\\Windows\\evil.txt",
                                          std::string("nul\0byte.txt", 12),
                                          "\xff\xfe-not-utf8.txt",
                                          "....//....//dots.txt",
                                          "%2e%2e%2fencoded.txt",
                                          "/",
                                          "..",
                                          "ok.txt"};
  std::ifstream passwd_in("/etc/passwd");
  std::string passwd((std::istreambuf_iterator<char>(passwd_in)), std::istreambuf_iterator<char>());
  fs::path uploads = fs::weakly_canonical(kb_->config().uploads_dir());
  int accepted = 0;
  for (const auto& name : names) {
    RawResponse r =
        Upload(port(), name, "The river flows past the mill. " + std::to_string(accepted));
    std::string what = "upload named " + name;
    ASSERT_TRUE(r.json) << what << ": " << r.body;
    if (r.status != 202) {  // a name with nothing usable in it
      ExpectJsonError(r, 400, 400, what);
      continue;
    }
    ++accepted;
    auto job = r.json->getArray("jobs")->getObject(0);
    std::string stored = job->getValue<std::string>("name");
    EXPECT_EQ(stored.find_first_of(std::string("/\\\0", 3)), std::string::npos)
        << what << " -> " << stored;
    fs::path path = fs::weakly_canonical(job->getValue<std::string>("path"));
    EXPECT_EQ(path.parent_path().parent_path(), uploads) << what << " -> " << path;
    EXPECT_TRUE(fs::exists(path)) << what << " -> " << path;
  }
  EXPECT_GE(accepted, 8);
  EXPECT_FALSE(fs::exists(absolute));
  std::ifstream after_in("/etc/passwd");
  EXPECT_EQ(
      std::string((std::istreambuf_iterator<char>(after_in)), std::istreambuf_iterator<char>()),
      passwd);
  for (const auto& file : FilesUnder(dir_.path())) {
    bool in_uploads = file.rfind("data/uploads/", 0) == 0;
    for (const char* marker :
         {"passwd", "escaped", "evil", "byte", "not-utf8", "dots", "encoded", "hostile"}) {
      EXPECT_TRUE(in_uploads || file.find(marker) == std::string::npos)
          << "written outside the uploads: " << file;
    }
  }
  ExpectHealthy();
}

TEST_F(HostileRequestTest, EncodedTraversalInUrlsIsA4xxJsonError) {
  for (const char* target :
       {"/api/v1/documents/..%2F..%2Fetc", "/api/v1/documents/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/documents/1/..%2F..%2F..%2Fetc%2Fpasswd", "/api/v1/documents/1%2F..%2F..",
        "/api/v1/jobs/..%2F1", "/..%2F..%2Fetc%2Fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
        "/../../etc/passwd", "/api/v1/documents/%00", "/index.html%00.txt",
        "/v1/models/..%2F..%2Fetc%2Fpasswd"}) {
    RawResponse r = Exchange(port(), Request("GET", target));
    ExpectJsonError(r, 400, 404, target);
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
  }
  ExpectHealthy();
}

}  // namespace
}  // namespace cloister::web
