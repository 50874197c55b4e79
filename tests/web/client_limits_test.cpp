// Per-client limits (web/src/client_limits.h): the token bucket and the counts of requests in
// progress on their own, driven by a test clock; then over real HTTP, with users and API keys:
// a client over its rate or its answers in progress gets 429 with Retry-After while others (and
// its own other requests) are served, and health is never limited.
#include "client_limits.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

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
using namespace std::chrono_literals;

// ---- the limiter on its own ---------------------------------------------------------------------

class TestClock {
 public:
  ClientLimits::Clock clock() {
    return [this] { return now_; };
  }
  void Advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  std::chrono::steady_clock::time_point now_{std::chrono::hours(1)};
};

bool Admitted(ClientLimits& limits, const std::string& client, bool answer = false) {
  return limits.Admit(client, answer).refused == LimitReason::kNone;
}

TEST(ClientLimitsTest, ARestedClientHasItsBurstThenTheBucketRefillsAtItsRate) {
  TestClock clock;
  ClientLimits limits({.requests_per_second = 2, .burst = 3}, clock.clock());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Admitted(limits, "a")) << i;
  ClientLimits::Admission over = limits.Admit("a", false);
  EXPECT_EQ(over.refused, LimitReason::kRate);
  EXPECT_EQ(over.retry_after_seconds, 1);
  EXPECT_NE(over.message.find("2 a second"), std::string::npos) << over.message;

  clock.Advance(250ms);  // half a token
  EXPECT_FALSE(Admitted(limits, "a"));
  clock.Advance(250ms);  // one token
  EXPECT_TRUE(Admitted(limits, "a"));
  EXPECT_FALSE(Admitted(limits, "a"));

  clock.Advance(60s);  // the bucket holds its burst, no more
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Admitted(limits, "a")) << i;
  EXPECT_FALSE(Admitted(limits, "a"));
  EXPECT_TRUE(Admitted(limits, "b")) << "each client has its own bucket";
}

TEST(ClientLimitsTest, RetryAfterIsTheSecondsUntilATokenIsBackRoundedUp) {
  TestClock clock;
  ClientLimits limits({.requests_per_second = 0.1, .burst = 1}, clock.clock());
  EXPECT_TRUE(Admitted(limits, "a"));
  EXPECT_EQ(limits.Admit("a", false).retry_after_seconds, 10);
  clock.Advance(7500ms);
  EXPECT_EQ(limits.Admit("a", false).retry_after_seconds, 3);
  clock.Advance(2500ms);
  EXPECT_TRUE(Admitted(limits, "a"));
}

TEST(ClientLimitsTest, ZeroTurnsEachLimitOff) {
  ClientLimits limits({.requests_per_second = 0, .burst = 1, .concurrent_answers = 0,
                       .concurrent_requests = 0});
  std::vector<ClientLimits::Ticket> held;
  for (int i = 0; i < 1000; ++i) {
    auto a = limits.Admit("a", true);
    ASSERT_EQ(a.refused, LimitReason::kNone) << i;
    held.push_back(std::move(a.ticket));
  }
}

TEST(ClientLimitsTest, RequestsAndAnswersInProgressAreCountedUntilTheirTicketsGo) {
  ClientLimits limits({.requests_per_second = 0, .concurrent_answers = 1, .concurrent_requests = 3});
  auto answer = limits.Admit("a", true);
  ASSERT_EQ(answer.refused, LimitReason::kNone);
  auto second = limits.Admit("a", true);
  EXPECT_EQ(second.refused, LimitReason::kConcurrency) << "one answer at a time";
  EXPECT_EQ(second.retry_after_seconds, 2);
  EXPECT_NE(second.message.find("answers"), std::string::npos) << second.message;
  auto search = limits.Admit("a", false);
  ASSERT_EQ(search.refused, LimitReason::kNone) << "other requests go on";
  auto another = limits.Admit("a", false);
  ASSERT_EQ(another.refused, LimitReason::kNone);
  auto fourth = limits.Admit("a", false);
  EXPECT_EQ(fourth.refused, LimitReason::kConcurrency) << "three requests at a time, answers included";
  EXPECT_EQ(fourth.retry_after_seconds, 1);
  EXPECT_TRUE(Admitted(limits, "b", true)) << "another client is not held up";

  answer.ticket = {};  // the answer ends
  auto next = limits.Admit("a", true);
  EXPECT_EQ(next.refused, LimitReason::kNone);
  ClientLimits::Ticket moved = std::move(next.ticket);
  EXPECT_EQ(limits.Admit("a", true).refused, LimitReason::kConcurrency) << "a moved ticket still counts";
}

TEST(ClientLimitsTest, AFloodOfAddressesKeepsTheTableUnderItsCap) {
  TestClock clock;  // never advances: no bucket refills, so no entry is idle
  ClientLimits limits({.requests_per_second = 1, .burst = 5, .max_clients = 1000}, clock.clock());
  auto held = limits.Admit("ip:10.0.0.1", false);  // in progress: must survive the flood
  ASSERT_EQ(held.refused, LimitReason::kNone);
  for (int i = 0; i < 100000; ++i) {
    ASSERT_TRUE(Admitted(limits, "ip:192.168." + std::to_string(i / 256) + "." + std::to_string(i % 256)));
    ASSERT_LE(limits.clients(), 1000u) << i;
  }
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Admitted(limits, "ip:10.0.0.1"));
  EXPECT_FALSE(Admitted(limits, "ip:10.0.0.1")) << "the entry in progress kept its bucket";
}

TEST(ClientLimitsTest, IdleClientsAreForgottenWithinAMinute) {
  TestClock clock;
  ClientLimits limits({.requests_per_second = 10, .burst = 20}, clock.clock());
  for (int i = 0; i < 500; ++i) EXPECT_TRUE(Admitted(limits, "ip:10.0.1." + std::to_string(i)));
  auto busy = limits.Admit("user:1", false);
  EXPECT_EQ(limits.clients(), 501u);
  clock.Advance(61s);
  EXPECT_TRUE(Admitted(limits, "user:2"));
  EXPECT_EQ(limits.clients(), 2u) << "user:1 has a request in progress; user:2 just came";
}

TEST(ClientKeyTest, AUserIsOneClientAndAnIpv6HostIsItsSlash64) {
  using Poco::Net::IPAddress;
  EXPECT_EQ(ClientKeyForUser(42), "user:42");
  EXPECT_EQ(ClientKeyForAddress(IPAddress("192.0.2.7")), "ip:192.0.2.7");
  EXPECT_EQ(ClientKeyForAddress(IPAddress("::ffff:192.0.2.7")), "ip:192.0.2.7");
  EXPECT_EQ(ClientKeyForAddress(IPAddress("2001:db8:1:2::1")), "ip:2001:db8:1:2::/64");
  EXPECT_EQ(ClientKeyForAddress(IPAddress("2001:db8:1:2:ffff:1:2:3")), "ip:2001:db8:1:2::/64");
  EXPECT_NE(ClientKeyForAddress(IPAddress("2001:db8:1:3::1")), "ip:2001:db8:1:2::/64");
  EXPECT_EQ(ClientKeyForAddress(IPAddress("::1")), "ip:0:0:0:0::/64");
}

// ---- over HTTP ----------------------------------------------------------------------------------

using testing_http::Headers;
using Response = testing_http::HttpResult;
using testing_http::HttpCall;

class ClientLimitsHttpTest : public testing::Test {
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
    for (auto [name, role] : {std::pair{"alice", "admin"}, std::pair{"bob", "user"},
                              std::pair{"carol", "user"}}) {
      auto hash = HashPassword("correct horse");
      ASSERT_TRUE(hash.ok());
      ASSERT_TRUE(accounts_->AddUser(name, role, *hash).ok());
      if (std::string(role) == "user") ASSERT_TRUE(accounts_->Grant(name, "default").ok());
    }
  }

  std::unique_ptr<Server> Start(app::KnowledgeBase& kb, ServerOptions options) {
    options.bind = "127.0.0.1";
    options.port = 0;
    options.auth = true;
    auto server = std::make_unique<Server>(kb, options);
    EXPECT_TRUE(server->Start().ok());
    return server;
  }

  std::string NewKey(const std::string& user) {
    auto key = MakeApiKey();
    EXPECT_TRUE(key.ok());
    EXPECT_TRUE(accounts_->AddApiKey(user, key->hash, key->prefix).ok());
    return key->key;
  }
  static Headers As(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

  fixtures::TempDir dir_;
  app::Config config_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<app::Accounts> accounts_;
};

TEST_F(ClientLimitsHttpTest, AClientOverItsRateGets429WithRetryAfterWhileOthersAreServed) {
  // A token every 100 s: none comes back while the test runs.
  auto server = Start(*kb_, {.client_requests_per_second = 0.01, .client_burst = 3});
  uint16_t port = server->port();
  std::string bob = NewKey("bob"), bobs_other_key = NewKey("bob"), carol = NewKey("carol"),
              alice = NewKey("alice");
  for (int i = 0; i < 2; ++i) ASSERT_EQ(HttpCall(port, "GET", "/api/v1/status", "", As(bob)).status, 200);
  ASSERT_EQ(HttpCall(port, "POST", "/api/v1/search", R"({"query": "notice"})", As(bobs_other_key)).status, 200);

  Response over = HttpCall(port, "POST", "/api/v1/search", R"({"query": "notice"})", As(bob));
  ASSERT_EQ(over.status, 429) << over.body;
  EXPECT_GE(std::stoi(over.retry_after), 1);
  EXPECT_EQ(over.error()->getValue<std::string>("code"), "rate_limited");
  EXPECT_NE(over.error()->getValue<std::string>("message").find("too many requests"), std::string::npos);
  EXPECT_EQ(HttpCall(port, "GET", "/api/v1/status", "", As(bobs_other_key)).status, 429)
      << "an API key counts as its user: a second key is no second bucket";

  Response openai = HttpCall(port, "GET", "/v1/models", "", As(bob));
  ASSERT_EQ(openai.status, 429);
  EXPECT_FALSE(openai.retry_after.empty());
  EXPECT_EQ(openai.error()->getValue<std::string>("type"), "invalid_request_error");
  EXPECT_EQ(openai.error()->getValue<std::string>("code"), "rate_limit_exceeded");

  EXPECT_EQ(HttpCall(port, "POST", "/api/v1/search", R"({"query": "notice"})", As(carol)).status, 200)
      << "another user has a bucket of its own";
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(HttpCall(port, "GET", "/api/v1/health").status, 200) << "health is never limited, " << i;
    ASSERT_EQ(HttpCall(port, "GET", "/").status, 200) << "nor the page";
  }
  Response scrape = HttpCall(port, "GET", "/metrics", "", As(alice));
  ASSERT_EQ(scrape.status, 200);
  auto e = exposition::ParseExposition(scrape.body);
  EXPECT_EQ(e.problems, std::vector<std::string>{}) << scrape.body;
  EXPECT_EQ(e.Value(R"(cloister_http_rate_limited_total{reason="rate"})"), 3);
  EXPECT_EQ(e.Value(R"(cloister_http_rate_limited_total{reason="concurrency"})"), 0);
  EXPECT_EQ(e.Value(R"(cloister_http_requests_total{route="/api/v1/search",method="POST",code="429"})"), 1);
}

TEST_F(ClientLimitsHttpTest, RefusedCredentialsCountAgainstTheAddress) {
  auto server = Start(*kb_, {.client_requests_per_second = 0.01, .client_burst = 2});
  uint16_t port = server->port();
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(HttpCall(port, "GET", "/api/v1/status", "", As("ck_00000000_guess")).status, 401);
  }
  Response over = HttpCall(port, "GET", "/api/v1/status", "", As("ck_00000000_guess"));
  EXPECT_EQ(over.status, 429) << "guessing keys is limited like any request";
  EXPECT_FALSE(over.retry_after.empty());
  EXPECT_EQ(HttpCall(port, "GET", "/api/v1/status", "", As(NewKey("bob"))).status, 200)
      << "a user is not the address its guesses came from";
}

TEST_F(ClientLimitsHttpTest, AnswersOverTheClientsLimitGet429WhileItsOtherRequestsGoOn) {
  SlowAnswers slow(*kb_);
  auto server = Start(slow, {.client_requests_per_second = 0, .client_concurrent_answers = 2});
  uint16_t port = server->port();
  std::string bob = NewKey("bob"), carol = NewKey("carol");
  const std::string question = R"({"question": "How much notice does the tenant give?"})";
  std::vector<std::future<int>> pending;
  for (int i = 0; i < 2; ++i) {
    pending.push_back(std::async(std::launch::async,
                                 [&] { return HttpCall(port, "POST", "/api/v1/ask", question, As(bob)).status; }));
  }
  for (int i = 0; i < 1000 && slow.asking < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(slow.asking, 2);

  Response third = HttpCall(port, "POST", "/api/v1/ask", question, As(bob));
  EXPECT_EQ(third.status, 429) << third.body;
  EXPECT_GE(std::stoi(third.retry_after), 1);
  EXPECT_EQ(third.error()->getValue<std::string>("code"), "rate_limited");
  EXPECT_NE(third.error()->getValue<std::string>("message").find("answers in progress"), std::string::npos);
  Response chat = HttpCall(port, "POST", "/v1/chat/completions",
                       R"({"messages": [{"role": "user", "content": "How much notice?"}]})", As(bob));
  EXPECT_EQ(chat.status, 429) << "chat completions are answers too: " << chat.body;
  EXPECT_EQ(chat.error()->getValue<std::string>("code"), "rate_limit_exceeded");
  EXPECT_EQ(HttpCall(port, "POST", "/api/v1/search", R"({"query": "notice"})", As(bob)).status, 200)
      << "the same client's other requests go on";

  auto carols = std::async(std::launch::async,
                           [&] { return HttpCall(port, "POST", "/api/v1/ask", question, As(carol)).status; });
  for (int i = 0; i < 1000 && slow.asking < 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(slow.asking, 3) << "another client's answer is not refused";
  slow.Release();
  for (auto& p : pending) EXPECT_EQ(p.get(), 200);
  EXPECT_EQ(carols.get(), 200);
  EXPECT_EQ(HttpCall(port, "POST", "/api/v1/ask", question, As(bob)).status, 200)
      << "ended answers free their places";
}

}  // namespace
}  // namespace cloister::web
