// A client that hangs up while its answer is being made cancels the answer, so that its
// generation slot (or its place in the queue) is free for the next question: over real HTTP and
// raw sockets, for the native ask (plain and streamed, the latter before its first token) and the
// OpenAI-compatible chat completions. A client that stays connected is never cancelled.
// (That a cancelled request frees its slot at once is generate's EngineTest.)
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include "cloister/app/knowledge_base.h"
#include "cloister/web/server.h"
#include "fixtures/fixtures.h"
#include "http_call.h"
#include "slow_answers.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class HangUpTest : public testing::Test {
 protected:
  void SetUp() override {
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    config.ingest.worker_binary = CLOISTER_BINARY;
    fs::create_directories(config.models_dir);
    fs::create_directories(dir_ / "docs");
    std::ofstream(dir_ / "docs" / "lease.txt")
        << "Lease agreement. The tenant gives three months notice in writing to end the lease.\n";
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    ASSERT_TRUE(kb_->Ingest({dir_ / "docs"}, nullptr).ok());
    slow_ = std::make_unique<SlowAnswers>(*kb_);
    server_ = std::make_unique<Server>(*slow_, ServerOptions{.bind = "127.0.0.1", .port = 0});
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_.reset(); }

  // A POST of a JSON body, as bytes on the wire.
  static std::string Post(const std::string& uri, const std::string& body) {
    return "POST " + uri + " HTTP/1.1\r\nHost: localhost\r\n" +
           "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  }

  // Sends a POST with a JSON body on a connection of its own, and waits until the answer is in
  // progress (SlowAnswers holds it until it is released or cancelled).
  Poco::Net::StreamSocket PostAndWaitForTheAnswer(const std::string& uri, const std::string& body) {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", server_->port()));
    const std::string request = Post(uri, body);
    socket.sendBytes(request.data(), static_cast<int>(request.size()));
    for (int i = 0; i < 500 && !slow_->asked; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(slow_->asked) << uri << " " << body;
    return socket;
  }

  // Whether the answer in progress is cancelled within `limit`.
  bool CancelledWithin(std::chrono::milliseconds limit) {
    for (auto end = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < end && !slow_->cancelled;) {
      std::this_thread::sleep_for(10ms);
    }
    return slow_->cancelled;
  }

  fixtures::TempDir dir_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<SlowAnswers> slow_;
  std::unique_ptr<Server> server_;
};

TEST_F(HangUpTest, AClientThatClosesTheConnectionCancelsItsAnswer) {
  const std::pair<std::string, std::string> requests[] = {
      {"/api/v1/ask", R"({"question": "How much notice?"})"},
      {"/api/v1/ask", R"({"question": "How much notice?", "stream": true})"},
      {"/v1/chat/completions",
       R"({"model": "cloister", "messages": [{"role": "user", "content": "How much notice?"}]})"},
      {"/v1/chat/completions",
       R"({"model": "cloister", "stream": true, "messages": [{"role": "user", "content": "How much notice?"}]})"},
  };
  for (const auto& [uri, body] : requests) {
    SCOPED_TRACE(uri + " " + body);
    slow_->asked = false;
    slow_->cancelled = false;
    Poco::Net::StreamSocket socket = PostAndWaitForTheAnswer(uri, body);
    socket.close();
    EXPECT_TRUE(CancelledWithin(5s)) << "the answer went on for a client that had gone";
    for (int i = 0; i < 500 && slow_->asking > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(slow_->asking, 0);
  }
}

TEST_F(HangUpTest, AClientThatResetsTheConnectionCancelsItsAnswer) {
  Poco::Net::StreamSocket socket =
      PostAndWaitForTheAnswer("/api/v1/ask", R"({"question": "How much notice?"})");
  socket.setLinger(true, 0);  // close sends a reset
  socket.close();
  EXPECT_TRUE(CancelledWithin(5s));
}

TEST_F(HangUpTest, AClientThatWaitsIsNotCancelledAndGetsItsAnswer) {
  auto reply = std::async(std::launch::async, [&] {
    return testing_http::HttpCall(server_->port(), "POST", "/api/v1/ask",
                                  R"({"question": "How much notice?"})");
  });
  for (int i = 0; i < 500 && !slow_->asked; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(slow_->asked);
  EXPECT_FALSE(CancelledWithin(1s)) << "ten looks at a connection still open cancelled it";
  slow_->Release();
  auto r = reply.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"answer\""), std::string::npos) << r.body;
  EXPECT_FALSE(slow_->cancelled);
}

// A request sent behind the first on the same connection (pipelining) is data waiting, not a
// hang-up: the first answer goes on, then both are answered in order.
TEST_F(HangUpTest, APipelinedRequestIsNotTakenForAHangUp) {
  const std::string body = R"({"question": "How much notice?"})";
  const std::string request = Post("/api/v1/ask", body);
  Poco::Net::StreamSocket socket = PostAndWaitForTheAnswer("/api/v1/ask", body);
  socket.sendBytes(request.data(), static_cast<int>(request.size()));
  EXPECT_FALSE(CancelledWithin(1s));
  slow_->Release();
  socket.setReceiveTimeout(Poco::Timespan(30, 0));
  auto replies = [](const std::string& text) {
    int n = 0;
    for (size_t at = text.find("HTTP/1.1 "); at != std::string::npos; at = text.find("HTTP/1.1 ", at + 1)) ++n;
    return n;
  };
  std::string received;
  char buffer[4096];
  for (int n; replies(received) < 2 && (n = socket.receiveBytes(buffer, sizeof buffer)) > 0;) {
    received.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(received.rfind("HTTP/1.1 200", 0), 0u) << received;
  EXPECT_NE(received.find("HTTP/1.1 200", 1), std::string::npos) << received;
}

}  // namespace
}  // namespace cloister::web
