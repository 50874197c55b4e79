// A minimal HTTP/1.1 client for bench_http: one request per connection (Connection: close) to
// 127.0.0.1, with a deadline for the whole exchange, so that a request that hangs is reported as
// a timeout instead of blocking the bench.
//
//   HttpReply r = Http(port, "POST", "/api/v1/search", R"({"query": "notice"})", 10);
//   if (r.error.empty() && r.status == 200) Use(r.body);   // chunked bodies come de-chunked
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <string>

#include "bench_util.h"

namespace cloister::bench {

struct HttpReply {
  int status = 0;  // 0: no complete status line
  std::string headers, body;
  std::string error;         // "timeout", "connect: ...", "closed early": nothing else set then
  double seconds = 0;        // until the server closed the connection
  double first_token_s = 0;  // streaming: until the first "event: token" arrived
};

inline std::string Dechunk(const std::string& raw) {
  std::string out;
  for (size_t at = 0; at < raw.size();) {
    size_t eol = raw.find("\r\n", at);
    if (eol == std::string::npos) break;
    size_t n = std::strtoul(raw.c_str() + at, nullptr, 16);
    if (n == 0) break;
    out.append(raw, eol + 2, n);
    at = eol + 2 + n + 2;
  }
  return out;
}

inline int Connect(uint16_t port, std::string* error) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until the server closes the connection or `deadline`; false on timeout.
inline bool ReadAll(int fd, Clock::time_point start, Clock::time_point deadline, HttpReply* r,
                    std::string* raw) {
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return true;
    raw->append(buf, static_cast<size_t>(n));
    if (r->first_token_s == 0 && raw->find("event: token") != std::string::npos)
      r->first_token_s = Seconds(start);
  }
}

inline HttpReply Http(uint16_t port, const std::string& method, const std::string& path,
                      const std::string& body, double timeout_s) {
  HttpReply r;
  auto start = Clock::now();
  auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  int fd = Connect(port, &r.error);
  if (fd < 0) return r;
  std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty()) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  std::string raw;
  bool sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
              static_cast<ssize_t>(request.size());
  bool complete = sent && ReadAll(fd, start, deadline, &r, &raw);
  close(fd);
  r.seconds = Seconds(start);
  size_t end = raw.find("\r\n\r\n");
  if (!complete || end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) {
    r.error = !sent ? "send failed" : !complete ? "timeout" : "closed early";
    return r;
  }
  r.status = std::atoi(raw.c_str() + 9);
  r.headers = raw.substr(0, end + 2);
  std::string lower = r.headers;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  r.body = raw.substr(end + 4);
  if (lower.find("transfer-encoding: chunked") != std::string::npos) r.body = Dechunk(r.body);
  return r;
}

// A header's value ("" when absent); names compared without case.
inline std::string Header(const HttpReply& r, const std::string& name) {
  std::regex re("\r\n" + name + ":[ \t]*([^\r]*)", std::regex::icase);
  std::smatch m;
  return std::regex_search(r.headers, m, re) ? m[1].str() : "";
}

// Whether `s` is well-formed UTF-8 (JSON must be: RFC 8259), overlong forms and surrogates aside.
inline bool IsUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 9;
    if (n == 9 || i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace cloister::bench
