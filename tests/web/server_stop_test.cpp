// Server::Stop(grace): refuses new connections at once, closes idle ones, lets a request in
// flight finish, and cuts off what outlives the grace period. The request in flight is a search
// whose body the test sends slowly, so the test, not the machine's speed, sets how long it lasts.
#include <Poco/Net/NetException.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <thread>

#include "cloister/web/server.h"
#include "fixtures/fixtures.h"
#include "raw_http.h"

namespace cloister::web {
namespace {

using namespace rawhttp;
using Clock = std::chrono::steady_clock;

class ServerStopTest : public testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    server_ = std::make_unique<Server>(*kb_, ServerOptions{.bind = "127.0.0.1", .port = 0});
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->port();
  }

  // Starts a search whose body of `body.size()` bytes is sent one byte every `pace`, on a thread;
  // the future holds the response.
  std::future<RawResponse> SlowSearch(const std::string& body, std::chrono::milliseconds pace) {
    auto socket = std::make_shared<Poco::Net::StreamSocket>(Connect(port_));
    std::string head =
        "POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    EXPECT_TRUE(SendAll(*socket, head + body.substr(0, 1)));
    return std::async(std::launch::async, [socket, body, pace] {
      for (size_t i = 1; i < body.size(); ++i) {
        std::this_thread::sleep_for(pace);
        if (!SendAll(*socket, body.substr(i, 1))) break;
      }
      return ReadResponse(*socket, std::chrono::seconds(30));
    });
  }

  // Whether a connection to the port is refused within a second.
  bool Refused() {
    for (int i = 0; i < 50; ++i) {
      try {
        Connect(port_);
      } catch (const Poco::Net::ConnectionRefusedException&) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  fixtures::TempDir dir_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(ServerStopTest, IdleKeptAliveConnectionsDoNotHoldTheStop) {
  Poco::Net::StreamSocket idle = Connect(port_);
  ASSERT_TRUE(SendAll(idle, Request("GET", "/api/v1/health", "", "", /*keep_alive=*/true)));
  RawResponse first = ReadResponse(idle);
  ASSERT_EQ(first.status, 200);
  ASSERT_FALSE(first.closed);
  auto start = Clock::now();
  server_->Stop(60);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5)) << "an idle connection held the stop";
  EXPECT_TRUE(ReadResponse(idle, std::chrono::seconds(2)).closed);
}

TEST_F(ServerStopTest, ARequestInFlightFinishesWhileNewConnectionsAreRefused) {
  std::string body = R"({"query": "river", "k": 3})";
  auto slow = SlowSearch(body, std::chrono::milliseconds(100));  // about 2.5 s
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto start = Clock::now();
  auto stopped = std::async(std::launch::async, [&] { server_->Stop(60); });
  EXPECT_TRUE(Refused()) << "a new connection was accepted during the stop";
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "the stop did not wait for the request in flight";
  RawResponse r = slow.get();
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(r.json) << r.body;
  EXPECT_TRUE(r.json->has("results"));
  EXPECT_NE(r.headers.find("connection: close"), std::string::npos) << r.headers;
  stopped.get();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(30));
}

TEST_F(ServerStopTest, ARequestOutlastingTheGracePeriodIsCutOff) {
  std::string body = R"({"query": "a very slow client indeed, one byte at a time"})";
  auto slow = SlowSearch(body, std::chrono::milliseconds(200));  // about 10 s
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto start = Clock::now();
  server_->Stop(1);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  RawResponse r = slow.get();
  EXPECT_NE(r.status, 200);
  EXPECT_TRUE(r.closed);
}

}  // namespace
}  // namespace cloister::web
