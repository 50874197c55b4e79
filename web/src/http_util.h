// Private HTTP helpers shared by the JSON API (server.cpp) and the OpenAI-compatible API
// (openai_api.cpp): JSON bodies in, JSON replies and server-sent events out.
#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>

#include "cloister/core/status.h"

namespace cloister::web {

// A JSON reply, as SendJson sends it.
struct Reply {
  int status = 200;
  std::string body;
};

// The request body as a JSON object, at most `limit` bytes. An empty body, or none (a request
// with neither Content-Length nor chunked encoding has none), is an empty object. A client
// waiting on "Expect: 100-continue" is told to go on once the declared length fits.
// kInvalidArgument for a body that is not valid UTF-8 (naming the byte) or not a JSON object,
// or one over `limit`: then *too_large is set (answer 413), nothing more is read, and the reply
// is marked to close the connection (which then lingers: a client still sending sees the 413).
Result<Poco::JSON::Object::Ptr> ReadJsonBody(Poco::Net::HTTPServerRequest& request, size_t limit,
                                             bool* too_large);

// Sends `reply` as application/json, with Retry-After on a 503. A client that went away is
// logged, never thrown.
void SendJson(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
              const Reply& reply);

// One server-sent event: "event: NAME\ndata: DATA\n\n", or "data: DATA\n\n" without a name.
std::string SseEvent(const std::string& name, const std::string& data);

// A text/event-stream response whose headers go out with the first write: until then the
// request can still be refused with a plain JSON error (busy: 503 with Retry-After). Every write
// is flushed at once (proxies are asked not to buffer). Write returns false once the client is
// gone; an answer's callback returns that to cancel generation and free its slot.
class EventStream {
 public:
  explicit EventStream(Poco::Net::HTTPServerResponse& response) : response_(response) {}
  bool opened() const { return out_ != nullptr; }
  bool Write(const std::string& text);

 private:
  Poco::Net::HTTPServerResponse& response_;
  std::ostream* out_ = nullptr;
};

}  // namespace cloister::web
