// One HTTP request to a server under test on 127.0.0.1, through Poco's client (web's own
// library), and what came back: the helper web's HTTP tests share.
#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <cstdint>
#include <map>
#include <string>

namespace cloister::web::testing_http {

using Headers = std::map<std::string, std::string>;

struct HttpResult {
  int status = 0;
  std::string type;         // Content-Type
  std::string retry_after;  // Retry-After, "" when absent
  std::string body;
  // The body's "error" object (the body must be JSON).
  Poco::JSON::Object::Ptr error() const {
    return Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>()->getObject("error");
  }
};

// Sends `method uri` with `body` (as `content_type`, when not empty) and `headers`; waits up to
// two minutes for the answer.
inline HttpResult HttpCall(uint16_t port, const std::string& method, const std::string& uri,
                           const std::string& body = "", const Headers& headers = {},
                           const std::string& content_type = "application/json") {
  Poco::Net::HTTPClientSession session("127.0.0.1", port);
  session.setTimeout(Poco::Timespan(120, 0));
  Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [k, v] : headers) request.set(k, v);
  if (!body.empty()) {
    request.setContentType(content_type);
    request.setContentLength(static_cast<std::streamsize>(body.size()));
  }
  session.sendRequest(request) << body;
  Poco::Net::HTTPResponse response;
  std::istream& in = session.receiveResponse(response);
  HttpResult r;
  Poco::StreamCopier::copyToString(in, r.body);
  r.status = response.getStatus();
  r.type = response.getContentType();
  r.retry_after = response.get("Retry-After", "");
  return r;
}

}  // namespace cloister::web::testing_http
