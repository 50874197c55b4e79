// Private to the OpenAI-compatible API (openai_*.cpp): its error shape, a typed reader of request
// fields, and the endpoints RouteOpenAi dispatches to.
#pragma once

#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <cstdint>
#include <optional>
#include <string>

#include "cloister/app/knowledge_base.h"
#include "cloister/core/status.h"
#include "http_util.h"

namespace cloister::web::openai {

// {"error": {"message", "type", "param", "code"}}: type is invalid_request_error below 500,
// server_error from 500; param and code are null when empty.
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;  // the request field at fault, when one is
  std::string code;   // machine-readable; OpenAI's where one exists (model_not_found)
};
Reply ErrorReply(const ApiError& error);
// HttpStatusFor's status, except kFailedPrecondition (a request this server cannot serve as
// configured): 400, since OpenAI's API has no 422 and its clients show a 400's message as the
// problem. The code is StatusCodeName's.
Reply ErrorReply(const Status& status, const std::string& param = "");
// 404 model_not_found, naming `id` and, in `hint`, what the server has instead.
Reply ModelNotFound(const std::string& id, const std::string& hint);

inline bool IsArray(const Poco::Dynamic::Var& v) {
  return v.type() == typeid(Poco::JSON::Array::Ptr);
}
inline bool IsObject(const Poco::Dynamic::Var& v) {
  return v.type() == typeid(Poco::JSON::Object::Ptr);
}

// Reads a body's fields by type: absent and null fields read as nullopt, a field of the wrong
// type or out of range as nullopt too, with the first such problem kept with the field it
// concerns (OpenAI's "param") for Error().
class Fields {
 public:
  explicit Fields(Poco::JSON::Object::Ptr body) : body_(std::move(body)) {}
  bool ok() const { return message_.empty(); }
  // 400 naming the first problem's field.
  Reply Error() const;
  // Records a problem unless one is recorded already.
  void Fail(const std::string& param, const std::string& message);

  Poco::Dynamic::Var Get(const std::string& name) const;  // empty when absent or null
  std::optional<std::string> String(const std::string& name);
  std::optional<bool> Bool(const std::string& name);
  std::optional<int64_t> Integer(const std::string& name, int64_t min, int64_t max);
  std::optional<double> Number(const std::string& name, double min, double max);

 private:
  Poco::JSON::Object::Ptr body_;
  std::string param_;
  std::string message_;
};

// POST /v1/chat/completions: a reply, or none with *streamed set when it streamed the answer.
Reply ChatCompletions(app::KnowledgeBase& kb, const app::Caller& caller,
                      const Poco::JSON::Object::Ptr& body,
                      Poco::Net::HTTPServerResponse& response, bool* streamed);
// POST /v1/embeddings: embeds the texts given, never reads stored chunks (so needs no caller).
Reply Embeddings(app::KnowledgeBase& kb, const Poco::JSON::Object::Ptr& body);
// The id /v1/models gives a chat model: its file name, or a remote server's name for its model;
// kExtractiveModelId without one.
std::string ChatModelId(const app::StatusReport& status);

}  // namespace cloister::web::openai
