// What the service tells its operators: GET /metrics (Prometheus's text format, administrators
// only with auth on, read back by a strict exposition reader), the audit log (who searched,
// asked, downloaded, uploaded, deleted, logged in; the documents cited), and the stop that
// cancels answers still running when the grace period is over.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "cloister/app/accounts.h"
#include "cloister/web/auth.h"
#include "cloister/web/server.h"
#include "fixtures/fixtures.h"
#include "http_call.h"
#include "prometheus_text.h"
#include "slow_answers.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;
using testing_http::Headers;
using Response = testing_http::HttpResult;
using testing_http::HttpCall;

std::vector<Poco::JSON::Object::Ptr> AuditLines(const fs::path& file) {
  std::vector<Poco::JSON::Object::Ptr> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    out.push_back(Poco::JSON::Parser().parse(line).extract<Poco::JSON::Object::Ptr>());
  }
  return out;
}

class ObservabilityTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.ingest.worker_binary = CLOISTER_BINARY;
    fs::create_directories(config_.models_dir);
    fs::create_directories(dir_ / "docs");
    std::ofstream(dir_ / "docs" / "lease.txt")
        << "Lease agreement. The tenant gives three months notice in writing to end the lease.\n";
    auto kb = app::KnowledgeBase::Open(config_);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    ASSERT_TRUE(kb_->Ingest({dir_ / "docs"}, nullptr).ok());
    auto accounts = app::Accounts::Open(config_);
    ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
    accounts_ = std::move(accounts).value();
    for (auto [name, role] : {std::pair{"alice", "admin"}, std::pair{"bob", "user"}}) {
      auto hash = HashPassword("correct horse");
      ASSERT_TRUE(hash.ok());
      ASSERT_TRUE(accounts_->AddUser(name, role, *hash).ok());
    }
    ASSERT_TRUE(accounts_->Grant("bob", "default").ok());
    admin_key_ = NewKey("alice");
    user_key_ = NewKey("bob");
    server_ = std::make_unique<Server>(
        *kb_, ServerOptions{.bind = "127.0.0.1", .port = 0, .auth = true, .audit_log = audit_path()});
    ASSERT_TRUE(server_->Start().ok());
  }

  std::string NewKey(const std::string& user) {
    auto key = MakeApiKey();
    EXPECT_TRUE(key.ok());
    EXPECT_TRUE(accounts_->AddApiKey(user, key->hash, key->prefix).ok());
    return key->key;
  }
  Headers As(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
  fs::path audit_path() const { return dir_ / "data" / "audit" / "audit.log"; }

  fixtures::TempDir dir_;
  app::Config config_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<app::Accounts> accounts_;
  std::unique_ptr<Server> server_;
  std::string admin_key_, user_key_;
};

TEST_F(ObservabilityTest, MetricsAreForAdministratorsAndCountWhatHappened) {
  uint16_t port = server_->port();
  EXPECT_EQ(HttpCall(port, "GET", "/metrics").status, 401);
  EXPECT_EQ(HttpCall(port, "GET", "/metrics", "", As(user_key_)).status, 403);
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/search", R"({"query": "notice lease"})", As(user_key_)).status, 200);
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/search", R"({"query": 7})", As(user_key_)).status, 400);
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/ask", R"({"question": "How much notice does the tenant give?"})",
                 As(user_key_)).status, 200);
  ASSERT_EQ(HttpCall(port, "GET", "/no/such/page", "", As(user_key_)).status, 404);

  Response scrape = HttpCall(port, "GET", "/metrics", "", As(admin_key_));
  ASSERT_EQ(scrape.status, 200) << scrape.body;
  EXPECT_EQ(scrape.type.rfind("text/plain; version=0.0.4", 0), 0u) << scrape.type;
  auto e = exposition::ParseExposition(scrape.body);
  EXPECT_EQ(e.problems, std::vector<std::string>{}) << scrape.body;
  EXPECT_EQ(e.Value(R"(cloister_http_requests_total{route="/api/v1/search",method="POST",code="200"})"), 1);
  EXPECT_EQ(e.Value(R"(cloister_http_requests_total{route="/api/v1/search",method="POST",code="400"})"), 1);
  EXPECT_EQ(e.Value(R"(cloister_http_requests_total{route="/metrics",method="GET",code="403"})"), 1);
  EXPECT_EQ(e.Value(R"(cloister_http_requests_total{route="other",method="GET",code="404"})"), 1)
      << "unknown paths share one label, so a scan cannot grow the series";
  EXPECT_EQ(e.Value(R"(cloister_http_request_duration_seconds_count{route="/api/v1/ask"})"), 1);
  EXPECT_EQ(e.Value(R"(cloister_search_duration_seconds_count{mode="lexical"})"), 1) << "searches asked for, not answers'";
  EXPECT_EQ(e.Value(R"(cloister_answer_duration_seconds_count{mode="extractive"})"), 1);
  EXPECT_EQ(e.Value(R"(cloister_documents{status="ready"})"), 1);
  EXPECT_EQ(e.Value("cloister_answers_in_flight"), 0);
  EXPECT_EQ(e.Value("cloister_answer_slots"), 4);
  EXPECT_GT(e.Value("cloister_process_resident_memory_bytes"), 1e6);
}

TEST_F(ObservabilityTest, TheAuditLogSaysWhoDidWhatWithWhichDocuments) {
  uint16_t port = server_->port();
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/login", R"({"name": "bob", "password": "wrong"})").status, 401);
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/login", R"({"name": "alice", "password": "correct horse"})").status, 200);
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/search", R"({"query": "notice lease"})", As(user_key_)).status, 200);
  Response ask = HttpCall(port, "POST", "/api/v1/ask", R"({"question": "How much notice does the tenant give?"})",
                      As(user_key_));
  ASSERT_EQ(ask.status, 200);
  ASSERT_EQ(HttpCall(port, "GET", "/api/v1/documents/1/original", "", As(user_key_)).status, 200);
  std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"memo.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nThe memo says the fire drill is on Tuesday.\r\n--XyZ--\r\n";
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/documents", multipart, As(user_key_), "multipart/form-data; boundary=XyZ").status,
            202);
  ASSERT_EQ(HttpCall(port, "DELETE", "/api/v1/documents/1", "", As(admin_key_)).status, 200);
  ASSERT_EQ(HttpCall(port, "GET", "/api/v1/status", "", As(user_key_)).status, 200);  // not audited: no content

  auto lines = AuditLines(audit_path());
  std::vector<std::string> actions;
  for (const auto& l : lines) actions.push_back(l->getValue<std::string>("action"));
  EXPECT_EQ(actions, (std::vector<std::string>{"login_failed", "login", "search", "ask", "download", "upload",
                                               "delete"}));
  EXPECT_EQ(lines[0]->getValue<std::string>("user"), "bob");
  EXPECT_EQ(lines[0]->getValue<int>("status"), 401);
  EXPECT_EQ(lines[1]->getValue<std::string>("user"), "alice");
  EXPECT_EQ(lines[2]->getValue<std::string>("user"), "bob");
  EXPECT_EQ(lines[2]->getValue<std::string>("auth"), "api_key");
  EXPECT_EQ(lines[2]->getValue<std::string>("client"), "127.0.0.1");
  EXPECT_EQ(lines[2]->getValue<std::string>("text"), "notice lease");
  EXPECT_EQ(lines[2]->getArray("documents")->getObject(0)->getValue<int64_t>("id"), 1);
  auto asked = lines[3];
  EXPECT_EQ(asked->getValue<std::string>("text"), "How much notice does the tenant give?");
  EXPECT_EQ(asked->getValue<std::string>("mode"), "extractive");
  ASSERT_TRUE(asked->has("documents")) << "the cited document";
  EXPECT_EQ(asked->getArray("documents")->getObject(0)->getValue<int64_t>("id"), 1);
  EXPECT_EQ(lines[4]->getArray("documents")->getObject(0)->getValue<int64_t>("id"), 1);
  EXPECT_EQ(lines[5]->getValue<std::string>("text"), "memo.txt");
  EXPECT_EQ(lines[6]->getValue<std::string>("user"), "alice");
  std::ifstream raw(audit_path());
  std::string all((std::istreambuf_iterator<char>(raw)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find("correct horse"), std::string::npos) << "passwords never reach the log";
  EXPECT_EQ(all.find(user_key_.substr(12)), std::string::npos) << "nor keys";
}

TEST_F(ObservabilityTest, StoppingCancelsAnAnswerStillRunningWhenTheGraceIsOver) {
  server_->Stop(0);
  SlowAnswers slow(*kb_);
  Server server(slow, ServerOptions{.bind = "127.0.0.1", .port = 0});
  ASSERT_TRUE(server.Start().ok());
  auto pending = std::async(std::launch::async, [&] {
    try {
      return HttpCall(server.port(), "POST", "/api/v1/ask", R"({"question": "How much notice?"})").status;
    } catch (const Poco::Exception&) {
      return -1;  // cut off
    }
  });
  for (int i = 0; i < 500 && !slow.asked; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(slow.asked);
  auto start = std::chrono::steady_clock::now();
  server.Stop(1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10))
      << "the answer held the stop: it was not cancelled";
  EXPECT_TRUE(slow.cancelled);
  pending.wait();
}

}  // namespace
}  // namespace cloister::web
