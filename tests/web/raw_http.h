// Raw HTTP over a socket, for requests an HTTP client library would refuse to send (malformed
// lines, lying lengths, slow or endless bodies) and for reading exactly what the server sent.
#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/String.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace cloister::web::rawhttp {

struct RawResponse {
  bool complete = false;  // a status line, headers and the whole body arrived
  int status = 0;
  std::string headers;  // as sent, lower-cased
  std::string content_type;
  std::string body;
  Poco::JSON::Object::Ptr json;  // when the body is JSON (which also means valid UTF-8)
  bool closed = false;           // the server closed the connection (or reset it)
};

inline Poco::Net::StreamSocket Connect(uint16_t port) {
  Poco::Net::StreamSocket socket;
  socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(5, 0));
  socket.setReceiveTimeout(Poco::Timespan(30, 0));
  return socket;
}

// Sends everything; false when the server closed or reset the connection first.
inline bool SendAll(Poco::Net::StreamSocket& socket, const std::string& bytes) {
  try {
    size_t sent = 0;
    while (sent < bytes.size()) {
      int n = socket.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  } catch (const Poco::Exception&) {
    return false;
  }
}

// Reads one response (a "100 Continue" before it is skipped), waiting at most `limit`. With
// `carry`, bytes read past the response (the next pipelined one) are kept there for the next call.
inline RawResponse ReadResponse(Poco::Net::StreamSocket& socket,
                                std::chrono::milliseconds limit = std::chrono::seconds(20),
                                std::string* carry = nullptr) {
  RawResponse r;
  std::string data;
  if (carry) data.swap(*carry);
  auto deadline = std::chrono::steady_clock::now() + limit;
  size_t header_end = std::string::npos;
  size_t want = std::string::npos;
  char buf[65536];
  while (true) {
    if (header_end == std::string::npos) {
      header_end = data.find("\r\n\r\n");
      if (header_end != std::string::npos && data.rfind("HTTP/1.1 100", 0) == 0) {
        data.erase(0, header_end + 4);
        header_end = std::string::npos;
        continue;
      }
      if (header_end != std::string::npos) {
        r.headers = Poco::toLower(data.substr(0, header_end));
        size_t cl = r.headers.find("\r\ncontent-length:");
        want = cl == std::string::npos ? std::string::npos
                                       : header_end + 4 + std::stoull(r.headers.substr(cl + 17));
      }
    }
    if (want != std::string::npos && data.size() >= want) break;
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    try {
      if (!socket.poll(Poco::Timespan(left.count()), Poco::Net::Socket::SELECT_READ)) break;
      int n = socket.receiveBytes(buf, sizeof buf);
      if (n <= 0) {
        r.closed = true;
        break;
      }
      data.append(buf, static_cast<size_t>(n));
    } catch (const Poco::Exception&) {
      r.closed = true;
      break;
    }
  }
  if (header_end == std::string::npos) return r;
  r.status = std::stoi(data.substr(9, 3));
  size_t ct = r.headers.find("\r\ncontent-type:");
  if (ct != std::string::npos) {
    size_t end = r.headers.find("\r\n", ct + 2);
    r.content_type = Poco::trim(
        r.headers.substr(ct + 15, end == std::string::npos ? std::string::npos : end - ct - 15));
  }
  r.body = data.substr(header_end + 4,
                       want == std::string::npos ? std::string::npos : want - header_end - 4);
  r.complete = want != std::string::npos && data.size() >= want;
  if (carry && r.complete) *carry = data.substr(want);
  if (r.content_type.rfind("application/json", 0) == 0) {
    try {
      r.json = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception&) {
    }
  }
  return r;
}

// Sends `bytes` on a new connection and reads the response.
inline RawResponse Exchange(uint16_t port, const std::string& bytes,
                            std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  Poco::Net::StreamSocket socket = Connect(port);
  SendAll(socket, bytes);
  return ReadResponse(socket, limit);
}

// A request with a body and its Content-Length; "Connection: close" unless `keep_alive`.
inline std::string Request(const std::string& method, const std::string& target,
                           const std::string& body = "", const std::string& extra_headers = "",
                           bool keep_alive = false) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers;
  if (!keep_alive) r += "Connection: close\r\n";
  if (!body.empty() || method == "POST") {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + body;
}

}  // namespace cloister::web::rawhttp
