#include "openai_api.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <optional>
#include <sstream>
#include <vector>

#include "json_util.h"
#include "openai_internal.h"

namespace cloister::web {
namespace openai {

namespace fs = std::filesystem;
using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

// ---- errors, in OpenAI's shape ----------------------------------------------------------------

Reply ErrorReply(const ApiError& e) {
  auto error = NewObject();
  error->set("message", e.message);
  error->set("type", e.status >= 500 ? "server_error" : "invalid_request_error");
  error->set("param", e.param.empty() ? Var() : Var(e.param));
  error->set("code", e.code.empty() ? Var() : Var(e.code));
  auto o = NewObject();
  o->set("error", error);
  return {e.status, Stringify(o)};
}

Reply ErrorReply(const Status& s, const std::string& param) {
  int status = s.code() == StatusCode::kFailedPrecondition ? 400 : HttpStatusFor(s.code());
  return ErrorReply({status, s.message(), param, std::string(StatusCodeName(s.code()))});
}

Reply ModelNotFound(const std::string& id, const std::string& hint) {
  return ErrorReply({404, "The model '" + id + "' does not exist on this server: " + hint, "model",
                     "model_not_found"});
}

// ---- typed fields of a request body ------------------------------------------------------------

Reply Fields::Error() const { return ErrorReply({400, message_, param_, "invalid_argument"}); }

void Fields::Fail(const std::string& param, const std::string& message) {
  if (!ok()) return;
  param_ = param;
  message_ = message;
}

Var Fields::Get(const std::string& name) const {
  if (!body_->has(name) || body_->isNull(name)) return {};
  return body_->get(name);
}

std::optional<std::string> Fields::String(const std::string& name) {
  Var v = Get(name);
  if (v.isEmpty()) return std::nullopt;
  if (v.isString()) return v.extract<std::string>();
  Fail(name, "'" + name + "' must be a string");
  return std::nullopt;
}

std::optional<bool> Fields::Bool(const std::string& name) {
  Var v = Get(name);
  if (v.isEmpty()) return std::nullopt;
  if (v.isBoolean()) return v.extract<bool>();
  Fail(name, "'" + name + "' must be true or false");
  return std::nullopt;
}

// Poco counts a bool as an integer and a number: neither is one here.
std::optional<int64_t> Fields::Integer(const std::string& name, int64_t min, int64_t max) {
  Var v = Get(name);
  if (v.isEmpty()) return std::nullopt;
  try {
    if (v.isInteger() && !v.isBoolean()) {
      auto n = v.convert<Poco::Int64>();
      if (n >= min && n <= max) return n;
    }
  } catch (const Poco::Exception&) {  // beyond int64
  }
  Fail(name, "'" + name + "' must be a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max));
  return std::nullopt;
}

std::optional<double> Fields::Number(const std::string& name, double min, double max) {
  Var v = Get(name);
  if (v.isEmpty()) return std::nullopt;
  if (v.isNumeric() && !v.isBoolean()) {
    double x = v.convert<double>();
    if (x >= min && x <= max) return x;
  }
  std::ostringstream range;
  range << "'" << name << "' must be a number from " << min << " to " << max;
  Fail(name, range.str());
  return std::nullopt;
}

// ---- models -----------------------------------------------------------------------------------

namespace {

// A model's id is its file name (the remote server's name for a remote chat model), as
// /api/v1/status and stored vectors know it.
std::string ModelId(const app::ModelEntry& m) {
  return m.path.empty() ? m.name : m.path.filename().string();
}

}  // namespace

std::string ChatModelId(const app::StatusReport& s) {
  return s.chat_model ? ModelId(*s.chat_model) : kExtractiveModelId;
}

namespace {

// "created" is the file's modification time (0 for a remote model or the extractive answerer).
Object::Ptr ModelObject(const std::string& id, const std::optional<app::ModelEntry>& entry) {
  int64_t created = 0;
  std::error_code ec;
  if (entry && !entry->path.empty()) {
    auto written = fs::last_write_time(entry->path, ec);
    if (!ec) {
      created = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::file_clock::to_sys(written).time_since_epoch())
                    .count();
    }
  }
  auto o = NewObject();
  o->set("id", id);
  o->set("object", "model");
  o->set("created", static_cast<Poco::Int64>(created));
  o->set("owned_by", "cloister");
  return o;
}

std::vector<Object::Ptr> ModelObjects(const app::StatusReport& s) {
  std::vector<Object::Ptr> models{ModelObject(ChatModelId(s), s.chat_model)};
  if (s.embedding_model)
    models.push_back(ModelObject(ModelId(*s.embedding_model), s.embedding_model));
  return models;
}

Reply ListModels(app::KnowledgeBase& kb, const app::Caller& caller) {
  auto status = kb.Status(caller);
  if (!status.ok()) return ErrorReply(status.status());
  Array::Ptr data = new Array;
  for (const auto& m : ModelObjects(*status)) data->add(m);
  auto o = NewObject();
  o->set("object", "list");
  o->set("data", data);
  return {200, Stringify(o)};
}

Reply GetModel(app::KnowledgeBase& kb, const app::Caller& caller, const std::string& id) {
  auto status = kb.Status(caller);
  if (!status.ok()) return ErrorReply(status.status());
  for (const auto& m : ModelObjects(*status)) {
    if (m->getValue<std::string>("id") == id) return {200, Stringify(m)};
  }
  return ModelNotFound(id, "GET /v1/models lists the models it has");
}

// ---- routing ----------------------------------------------------------------------------------

Reply MethodNotAllowed(const std::string& method, const std::string& path) {
  return ErrorReply({405, method + " is not allowed on " + path, "", "method_not_allowed"});
}

Reply Route(app::KnowledgeBase& kb, const app::Caller& caller, const ServerOptions& options,
            Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
            const std::string& path, bool* streamed) {
  const std::string& method = request.getMethod();
  bool read = method == "GET" || method == "HEAD";
  const std::string kModels = "/v1/models/";
  if (path == "/v1/models") return read ? ListModels(kb, caller) : MethodNotAllowed(method, path);
  if (path.rfind(kModels, 0) == 0 && path.size() > kModels.size()) {
    return read ? GetModel(kb, caller, path.substr(kModels.size())) : MethodNotAllowed(method, path);
  }
  bool chat = path == "/v1/chat/completions";
  if (!chat && path != "/v1/embeddings") {
    return ErrorReply({404,
                       "Unknown request URL: " + method + " " + path +
                           " (this server has /v1/models, /v1/chat/completions and /v1/embeddings)",
                       "", "unknown_url"});
  }
  if (method != "POST") return MethodNotAllowed(method, path);
  bool too_large = false;
  auto body = ReadJsonBody(request, options.max_body_bytes, &too_large);
  if (!body.ok()) {
    if (too_large) return ErrorReply({413, body.status().message(), "", "request_too_large"});
    return ErrorReply(body.status());
  }
  return chat ? ChatCompletions(kb, caller, *body, response, streamed) : Embeddings(kb, *body);
}

}  // namespace
}  // namespace openai

bool IsOpenAiPath(const std::string& path) { return path == "/v1" || path.rfind("/v1/", 0) == 0; }

Reply RouteOpenAi(app::KnowledgeBase& kb, const app::Caller& caller, const ServerOptions& options,
                  Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                  const std::string& path, bool* streamed) {
  try {
    return openai::Route(kb, caller, options, request, response, path, streamed);
  } catch (const std::exception& e) {
    if (*streamed) return {};
    return openai::ErrorReply(Internal(std::string("unexpected error: ") + e.what()));
  }
}

}  // namespace cloister::web
