#include "cloister/web/json.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <sstream>

#include "cloister/core/version.h"
#include "json_util.h"

namespace cloister::web {
namespace {

Poco::JSON::Object::Ptr ModelObject(const app::ModelEntry& m) {
  auto o = NewObject();
  o->set("name", m.name);
  o->set("path", m.path.string());
  o->set("kind", m.kind);
  o->set("architecture", m.architecture);
  o->set("quantization", m.quantization);
  o->set("size_bytes", static_cast<Poco::UInt64>(m.size_bytes));
  o->set("parameters", static_cast<Poco::UInt64>(m.parameters));
  o->set("dimension", m.dimension);
  o->set("context_length", m.context_length);
  if (m.loads.has_value()) {
    o->set("loads", *m.loads);
  } else {
    o->set("loads", Poco::Dynamic::Var());
  }
  if (!m.error.empty()) o->set("error", m.error);
  return o;
}

Poco::JSON::Object::Ptr CountsObject(const std::map<std::string, int64_t>& counts) {
  auto o = NewObject();
  for (const auto& [key, n] : counts) o->set(key, static_cast<Poco::Int64>(n));
  return o;
}

}  // namespace

Poco::JSON::Object::Ptr NewObject() {
  return new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
}

std::string Stringify(const Poco::Dynamic::Var& value) {
  std::ostringstream out;
  Poco::JSON::Stringifier::condense(value, out);
  return out.str();
}

std::string StatusJson(const app::StatusReport& s) {
  auto o = NewObject();
  o->set("version", s.version);
  o->set("data", s.data_dir.string());
  o->set("documents", static_cast<Poco::Int64>(s.documents));
  o->set("chunks", static_cast<Poco::Int64>(s.chunks));
  o->set("embeddings", static_cast<Poco::Int64>(s.embeddings));
  o->set("documents_by_status", CountsObject(s.documents_by_status));
  o->set("failures", static_cast<Poco::Int64>(s.documents_by_status.count("failed")
                                                   ? s.documents_by_status.at("failed") : 0));
  o->set("queue", CountsObject(s.jobs_by_state));
  auto models = NewObject();
  models->set("embedding", s.embedding_model ? Poco::Dynamic::Var(ModelObject(*s.embedding_model))
                                             : Poco::Dynamic::Var());
  models->set("chat", s.chat_model ? Poco::Dynamic::Var(ModelObject(*s.chat_model))
                                   : Poco::Dynamic::Var());
  o->set("models", models);
  o->set("retrieval_mode", s.retrieval_mode);
  o->set("answer_mode", s.answer_mode);
  auto index = NewObject();
  index->set("kind", s.index_kind);
  index->set("size", static_cast<Poco::Int64>(s.index_size));
  o->set("index", index);
  return Stringify(o);
}

std::string ModelsJson(const std::vector<app::ModelEntry>& models) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& m : models) list->add(ModelObject(m));
  auto o = NewObject();
  o->set("models", list);
  return Stringify(o);
}

std::string HealthJson() {
  auto o = NewObject();
  o->set("status", "ok");
  o->set("version", std::string(Version()));
  return Stringify(o);
}

std::string ErrorJson(const Status& status, const std::string& hint) {
  auto details = NewObject();
  if (!hint.empty()) details->set("hint", hint);
  auto error = NewObject();
  error->set("code", std::string(StatusCodeName(status.code())));
  error->set("message", status.message());
  error->set("details", details);
  auto o = NewObject();
  o->set("error", error);
  return Stringify(o);
}

}  // namespace cloister::web
