#include "http_util.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>

#include <exception>

#include "cloister/core/log.h"

namespace cloister::web {

using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

namespace {

Status TooLarge(HTTPServerRequest& request, size_t limit, bool* too_large) {
  *too_large = true;
  request.response().setKeepAlive(false);
  return InvalidArgument("the request body is larger than " + std::to_string(limit) + " bytes");
}

// The length of the UTF-8 sequence at text[i], or 0 when it is not a valid one.
size_t Utf8SequenceAt(std::string_view text, size_t i) {
  auto byte = [&](size_t k) {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u;
  };
  unsigned c = byte(0);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return 0;
  }
  unsigned second = byte(1);
  if (c == 0xE0 && second < 0xA0) return 0;  // overlong
  if (c == 0xED && second > 0x9F) return 0;  // surrogate
  if (c == 0xF0 && second < 0x90) return 0;  // overlong
  if (c == 0xF4 && second > 0x8F) return 0;  // past U+10FFFF
  return n;
}

}  // namespace

size_t InvalidUtf8At(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceAt(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceAt(text, i);
    out += n == 0 ? std::string_view("\xEF\xBF\xBD") : text.substr(i, n);
    i += n == 0 ? 1 : n;
  }
  return out;
}

Result<Poco::JSON::Object::Ptr> ReadJsonBody(HTTPServerRequest& request, size_t limit,
                                             bool* too_large) {
  *too_large = false;
  bool chunked = request.getChunkedTransferEncoding();
  if (!chunked && !request.hasContentLength())
    return Poco::JSON::Object::Ptr(new Poco::JSON::Object);
  if (!chunked && request.getContentLength64() > static_cast<Poco::Int64>(limit)) {
    return TooLarge(request, limit, too_large);
  }
  if (request.getExpectContinue()) request.response().sendContinue();
  std::istream& in = request.stream();
  std::string text;
  char buf[8192];
  while (in.read(buf, sizeof buf).gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > limit) return TooLarge(request, limit, too_large);
  }
  if (in.bad())
    return InvalidArgument(
        "the request body could not be read to its end (broken chunked encoding?)");
  if (size_t bad = InvalidUtf8At(text); bad != std::string_view::npos) {
    return InvalidArgument("the request body is not valid UTF-8 (byte " + std::to_string(bad) +
                           ")");
  }
  if (text.empty()) return Poco::JSON::Object::Ptr(new Poco::JSON::Object);
  try {
    auto parsed = Poco::JSON::Parser().parse(text);
    if (parsed.type() != typeid(Poco::JSON::Object::Ptr))
      return InvalidArgument("the request body must be a JSON object");
    return parsed.extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception& e) {
    return InvalidArgument("the request body is not JSON: " + e.displayText());
  }
}

void SendJson(HTTPServerRequest& request, HTTPServerResponse& response, const Reply& reply) {
  try {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    response.setContentType("application/json; charset=utf-8");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Cache-Control", "no-store");
    if (reply.status == 503) response.set("Retry-After", "2");
    response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    auto& out = response.send();
    if (request.getMethod() != "HEAD") out << reply.body;
  } catch (const std::exception& e) {
    log::Warn("http", "could not send response", {{"error", e.what()}});
  }
}

std::string SseEvent(const std::string& name, const std::string& data) {
  return (name.empty() ? "" : "event: " + name + "\n") + "data: " + data + "\n\n";
}

bool EventStream::Write(const std::string& text) {
  if (!out_) {
    response_.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
    response_.setContentType("text/event-stream; charset=utf-8");
    response_.set("Cache-Control", "no-store");
    response_.set("X-Content-Type-Options", "nosniff");
    response_.set("X-Accel-Buffering", "no");  // proxies: do not hold the stream back
    response_.setChunkedTransferEncoding(true);
    out_ = &response_.send();
  }
  // A write to a closed connection sets badbit (the stream buffer's exception is caught by the
  // ostream), so good() is how a client that went away shows.
  *out_ << text << std::flush;
  return out_->good();
}

}  // namespace cloister::web
