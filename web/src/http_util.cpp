#include "http_util.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>

#include <exception>

#include "cloister/core/log.h"
#include "cloister/core/utf8.h"

namespace cloister::web {

using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

namespace {

Status TooLarge(HTTPServerRequest& request, size_t limit, bool* too_large) {
  *too_large = true;
  request.response().setKeepAlive(false);
  return InvalidArgument("the request body is larger than " + std::to_string(limit) + " bytes");
}

}  // namespace

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
