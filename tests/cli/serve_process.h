// Running the real `cloister` binary (or a program wrapped around it, such as strace) from a test
// and talking HTTP to the `serve` it starts: the helpers tests/cli's serving tests share.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace cloister::serving {

using Clock = std::chrono::steady_clock;

inline std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `program args...` with stdout and stderr in files; the pid (-1 when it could not start).
inline pid_t StartProgram(const std::string& program, std::vector<std::string> args,
                          const std::filesystem::path& out, const std::filesystem::path& err) {
  std::string bin = program;
  std::vector<char*> argv{bin.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawnp(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ), 0) << program;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Starts `cloister args...`.
inline pid_t Start(std::vector<std::string> args, const std::filesystem::path& out,
                   const std::filesystem::path& err) {
  return StartProgram(CLOISTER_BINARY, std::move(args), out, err);
}

// The exit status, or -1 if the process has not ended within `limit` (it is then killed).
inline int WaitExit(pid_t pid, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The port `cloister serve` logged to `err` (its `url=http://127.0.0.1:PORT` line) within 30 s.
inline std::optional<uint16_t> WaitForPort(const std::filesystem::path& err) {
  std::regex url(R"(url=http://127\.0\.0\.1:(\d+))");
  std::smatch m;
  for (int i = 0; i < 600; ++i) {
    std::string log = ReadAll(err);
    if (std::regex_search(log, m, url)) return static_cast<uint16_t>(std::stoi(m[1]));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

// A connected socket, or -1 with errno set (ECONNREFUSED once the server stopped listening).
inline int Connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  int error = errno;
  close(fd);
  errno = error;
  return -1;
}

inline void Post(int fd, const std::string& path, const std::string& body) {
  std::string request = "POST " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "Content-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
}

// One request on its own connection (`Connection: close`): the whole response, head and body,
// or "" when nothing came within `limit`.
inline std::string Exchange(uint16_t port, const std::string& method, const std::string& path,
                            const std::string& body = "",
                            std::chrono::seconds limit = std::chrono::seconds(120)) {
  int fd = Connect(port);
  if (fd < 0) return "";
  std::string request = method + " " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string response;
  if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    timeval tv{static_cast<time_t>(limit.count()), 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[8192];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

}  // namespace cloister::serving
