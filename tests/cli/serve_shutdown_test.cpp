// `cloister serve` stopped with SIGTERM while it streams two answers, one from /api/v1/ask and
// one from /v1/chat/completions: each runs to its end (the done event, data: [DONE]), new
// connections are refused meanwhile, and the process exits 0 within the grace period.
// Runs the real binary with stories260K as its chat model.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "fixtures/fixtures.h"
#include "serve_process.h"

namespace cloister {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using serving::Connect;
using serving::Post;
using serving::ReadAll;
using serving::Start;
using serving::WaitExit;

// Reads a chunked text/event-stream response as it comes: its events, in order.
class EventReader {
 public:
  explicit EventReader(int fd) : fd_(fd) {}

  // Reads until one more event arrived (true) or the stream ended or `limit` passed (false).
  bool Next(std::chrono::seconds limit = std::chrono::seconds(60)) {
    auto deadline = Clock::now() + limit;
    while (true) {
      Decode();
      size_t end = text_.find("\n\n");
      if (end != std::string::npos) {
        std::string block = text_.substr(0, end);
        text_.erase(0, end + 2);
        std::string name, data;
        std::istringstream lines(block);
        for (std::string line; std::getline(lines, line);) {
          if (line.rfind("event: ", 0) == 0) name = line.substr(7);
          if (line.rfind("data: ", 0) == 0) data = line.substr(6);
        }
        events_.emplace_back(name, data);
        return true;
      }
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) return false;
      char buf[8192];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return false;
      raw_.append(buf, static_cast<size_t>(n));
    }
  }

  const std::string& head() const { return head_; }
  const std::vector<std::pair<std::string, std::string>>& events() const { return events_; }

 private:
  // Moves complete chunks from the raw bytes to the text.
  void Decode() {
    if (head_.empty()) {
      size_t end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head_ = raw_.substr(0, end);
      raw_.erase(0, end + 4);
    }
    while (true) {
      size_t line = raw_.find("\r\n");
      if (line == std::string::npos) return;
      size_t size = std::stoul(raw_.substr(0, line), nullptr, 16);
      if (raw_.size() < line + 2 + size + 2) return;
      text_ += raw_.substr(line + 2, size);
      raw_.erase(0, line + 2 + size + 2);
      if (size == 0) return;
    }
  }

  int fd_;
  std::string raw_, head_, text_;
  std::vector<std::pair<std::string, std::string>> events_;
};

TEST(ServeShutdownTest, SigtermLetsStreamedAnswersFinishRefusesNewConnectionsAndExitsZero) {
  fixtures::TempDir dir;
  fs::create_directories(dir / "models");
  fs::create_directories(dir / "docs");
  fs::copy_file(fixtures::StoriesModel(), dir / "models" / "stories260K.gguf");
  {
    std::ofstream doc(dir / "docs" / "river.txt");
    doc << "The little dog Max lived in a small house by the river. Every morning Max ran to the "
           "park "
           "to play with his friend Lily, who had a red ball and a big smile.\n";
  }
  std::vector<std::string> where = {"--data", (dir / "data").string(), "--models",
                                    (dir / "models").string()};
  std::vector<std::string> ingest = {"ingest", (dir / "docs").string()};
  ingest.insert(ingest.end(), where.begin(), where.end());
  ASSERT_EQ(
      WaitExit(Start(ingest, dir / "ingest.out", dir / "ingest.err"), std::chrono::seconds(120)), 0)
      << ReadAll(dir / "ingest.err");

  const int kGrace = 90;
  std::vector<std::string> serve = {"serve",
                                    "--port",
                                    "0",
                                    "--inbox",
                                    (dir / "inbox").string(),
                                    "--shutdown-grace",
                                    std::to_string(kGrace)};
  serve.insert(serve.end(), where.begin(), where.end());
  pid_t pid = Start(serve, dir / "serve.out", dir / "serve.err");
  std::optional<uint16_t> served = serving::WaitForPort(dir / "serve.err");
  ASSERT_TRUE(served) << ReadAll(dir / "serve.err");
  uint16_t port = *served;

  // Long enough to take seconds on any machine: stories260K does not stop by itself.
  int ask_fd = Connect(port), chat_fd = Connect(port);
  ASSERT_GE(ask_fd, 0);
  ASSERT_GE(chat_fd, 0);
  Post(ask_fd, "/api/v1/ask",
       R"({"question": "What did Max do by the river?", "stream": true, "max_tokens": 1000})");
  Post(
      chat_fd, "/v1/chat/completions",
      R"({"messages": [{"role": "user", "content": "What did Lily have?"}], "stream": true, "max_tokens": 1000})");
  EventReader ask(ask_fd), chat(chat_fd);
  ASSERT_TRUE(ask.Next()) << ask.head();
  ASSERT_EQ(ask.events().front().first, "token") << ask.head();
  ASSERT_TRUE(chat.Next()) << chat.head();

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  auto signalled = Clock::now();
  size_t ask_before = ask.events().size(), chat_before = chat.events().size();

  // New connections are refused while the answers are still being written.
  bool refused = false;
  for (int i = 0; i < 150 && !refused; ++i) {
    int other = Connect(port);
    if (other < 0 && errno == ECONNREFUSED) {
      refused = true;
    } else {
      if (other >= 0) close(other);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_TRUE(refused) << "a new connection was still accepted 3 s after SIGTERM";
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), 0) << "serve exited before its answers were done";

  while (ask.Next()) {
  }
  while (chat.Next()) {
  }
  close(ask_fd);
  close(chat_fd);
  const auto& events = ask.events();
  ASSERT_GE(events.size(), 3u);
  EXPECT_GT(events.size() - 2, ask_before)
      << "no token came after SIGTERM: the answer was done already, "
         "so this proves nothing (raise max_tokens)";
  EXPECT_EQ(events[events.size() - 2].first, "sources");
  EXPECT_EQ(events.back().first, "done") << "the answer's stream ended without its done event";
  auto done = Poco::JSON::Parser().parse(events.back().second).extract<Poco::JSON::Object::Ptr>();
  EXPECT_EQ(done->getValue<std::string>("mode"), "generated");
  EXPECT_GT(done->getObject("usage")->getValue<int>("completion_tokens"), 0);
  const auto& chunks = chat.events();
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_GT(chunks.size(), chat_before + 2) << "no chunk came after SIGTERM: this proves nothing";
  EXPECT_EQ(chunks.back().second, "[DONE]") << "the chat completion's stream ended without [DONE]";
  auto last = Poco::JSON::Parser()
                  .parse(chunks[chunks.size() - 2].second)
                  .extract<Poco::JSON::Object::Ptr>();
  EXPECT_FALSE(
      last->getArray("choices")->getObject(0)->getValue<std::string>("finish_reason").empty());

  int code = WaitExit(pid, std::chrono::seconds(kGrace));
  EXPECT_EQ(code, 0) << ReadAll(dir / "serve.err");
  EXPECT_LT(Clock::now() - signalled, std::chrono::seconds(kGrace));
  std::string err = ReadAll(dir / "serve.err");
  EXPECT_NE(err.find("finishing requests in flight"), std::string::npos) << err;
  EXPECT_NE(err.find("stopped"), std::string::npos) << err;
  EXPECT_EQ(err.find("cutting off"), std::string::npos) << err;
}

TEST(ServeShutdownTest, ShutdownGraceMustBeANumberOfSeconds) {
  fixtures::TempDir dir;
  pid_t pid = Start({"serve", "--shutdown-grace", "soon", "--data", (dir / "data").string()},
                    dir / "out", dir / "err");
  EXPECT_EQ(WaitExit(pid, std::chrono::seconds(30)), 1);
  EXPECT_NE(ReadAll(dir / "err").find("--shutdown-grace"), std::string::npos);
}

}  // namespace
}  // namespace cloister
