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
  Poco::JSON::Array::Ptr failures = new Poco::JSON::Array;
  for (const auto& f : s.recent_failures) {
    auto e = NewObject();
    e->set("path", f.path);
    e->set("error", f.error);
    failures->add(e);
  }
  o->set("recent_failures", failures);
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
  if (s.reembedding) {
    auto re = NewObject();
    re->set("from", s.reembedding->from);
    re->set("to", s.reembedding->to);
    re->set("done", static_cast<Poco::Int64>(s.reembedding->done));
    re->set("total", static_cast<Poco::Int64>(s.reembedding->total));
    re->set("old_vectors_serve", s.reembedding->old_vectors_serve);
    o->set("reembedding", re);
  } else {
    o->set("reembedding", Poco::Dynamic::Var());
  }
  return Stringify(o);
}

std::string ModelsJson(const std::vector<app::ModelEntry>& models) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& m : models) list->add(ModelObject(m));
  auto o = NewObject();
  o->set("models", list);
  return Stringify(o);
}

std::string IngestJson(const app::IngestReport& report) {
  auto files = [](const std::vector<app::IngestedFile>& list, bool failed) {
    Poco::JSON::Array::Ptr arr = new Poco::JSON::Array;
    for (const auto& f : list) {
      auto o = NewObject();
      o->set("path", f.path);
      if (failed) {
        o->set("error", f.error);
        o->set("reason", f.error.substr(0, f.error.find(':')));
      } else {
        Poco::JSON::Array::Ptr ids = new Poco::JSON::Array;
        for (int64_t id : f.document_ids) ids->add(static_cast<Poco::Int64>(id));
        o->set("document_ids", ids);
        o->set("documents", static_cast<Poco::Int64>(f.documents));
        o->set("chunks", static_cast<Poco::Int64>(f.chunks));
        o->set("pages", static_cast<Poco::Int64>(f.pages));
        if (!f.note.empty()) o->set("note", f.note);
      }
      arr->add(o);
    }
    return arr;
  };
  auto o = NewObject();
  o->set("documents", static_cast<Poco::Int64>(report.documents));
  o->set("chunks", static_cast<Poco::Int64>(report.chunks));
  o->set("pages", static_cast<Poco::Int64>(report.pages));
  o->set("ingested", files(report.ingested, false));
  o->set("failed", files(report.failed, true));
  return Stringify(o);
}

std::string BackupJson(const app::BackupReport& report) {
  auto o = NewObject();
  o->set("folder", report.folder.string());
  o->set("documents", static_cast<Poco::Int64>(report.documents));
  o->set("chunks", static_cast<Poco::Int64>(report.chunks));
  o->set("embeddings", static_cast<Poco::Int64>(report.embeddings));
  o->set("files", static_cast<Poco::Int64>(report.files));
  o->set("bytes", static_cast<Poco::Int64>(report.bytes));
  o->set("seconds", report.seconds);
  return Stringify(o);
}

namespace {

Poco::Dynamic::Var OptionalInt(const std::optional<int64_t>& v) {
  return v ? Poco::Dynamic::Var(static_cast<Poco::Int64>(*v)) : Poco::Dynamic::Var();
}

Poco::JSON::Object::Ptr ApiKeyObject(const app::ApiKeyInfo& k) {
  auto o = NewObject();
  o->set("id", static_cast<Poco::Int64>(k.id));
  o->set("user", k.user);
  o->set("prefix", k.prefix);
  o->set("created_at", static_cast<Poco::Int64>(k.created_at));
  o->set("revoked_at", OptionalInt(k.revoked_at));
  o->set("last_used_at", OptionalInt(k.last_used_at));
  return o;
}

}  // namespace

std::string UsersJson(const std::vector<app::UserInfo>& users) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& u : users) {
    auto o = NewObject();
    o->set("id", static_cast<Poco::Int64>(u.id));
    o->set("name", u.name);
    o->set("role", u.role);
    o->set("disabled", u.disabled);
    o->set("created_at", static_cast<Poco::Int64>(u.created_at));
    Poco::JSON::Array::Ptr collections = new Poco::JSON::Array;
    for (const auto& c : u.collections) collections->add(c);
    o->set("collections", collections);
    list->add(o);
  }
  auto o = NewObject();
  o->set("users", list);
  return Stringify(o);
}

std::string ConfigCheckJson(const std::string& file, const std::vector<app::ConfigProblem>& problems) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& p : problems) {
    auto o = NewObject();
    o->set("line", p.line);
    o->set("key", p.key);
    o->set("message", p.message);
    list->add(o);
  }
  auto o = NewObject();
  o->set("file", file);
  o->set("valid", problems.empty());
  o->set("problems", list);
  return Stringify(o);
}

std::string SettingsJson(const std::string& file, const std::vector<app::SettingInfo>& settings) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& s : settings) {
    auto o = NewObject();
    o->set("name", s.name);
    o->set("value", s.value);
    o->set("help", s.help);
    list->add(o);
  }
  auto o = NewObject();
  if (file.empty()) {
    o->set("file", Poco::Dynamic::Var());
  } else {
    o->set("file", file);
  }
  o->set("settings", list);
  return Stringify(o);
}

std::string DoctorJson(const std::vector<app::DoctorCheck>& checks) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  bool ok = true;
  for (const auto& c : checks) {
    auto o = NewObject();
    o->set("name", c.name);
    o->set("state", c.state);
    o->set("detail", c.detail);
    list->add(o);
    ok = ok && c.state != "fail";
  }
  auto o = NewObject();
  o->set("ok", ok);
  o->set("checks", list);
  return Stringify(o);
}

std::string ApiKeysJson(const std::vector<app::ApiKeyInfo>& keys) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& k : keys) list->add(ApiKeyObject(k));
  auto o = NewObject();
  o->set("api_keys", list);
  return Stringify(o);
}

std::string ApiKeyJson(const app::ApiKeyInfo& key, const std::string& secret) {
  auto o = ApiKeyObject(key);
  o->set("key", secret);
  return Stringify(o);
}

namespace {

// A passage's document, as search results and answer sources show it.
Poco::JSON::Object::Ptr DocumentObject(const app::SearchHit& h) {
  auto doc = NewObject();
  doc->set("id", static_cast<Poco::Int64>(h.document_id));
  doc->set("path", h.path);
  doc->set("title", h.title);
  doc->set("type", h.type);
  if (!h.name.empty()) doc->set("name", h.name);
  if (!h.from.empty()) doc->set("from", h.from);
  if (!h.date.empty()) doc->set("date", h.date);
  if (!h.subject.empty()) doc->set("subject", h.subject);
  doc->set("parent_id", h.parent_id ? Poco::Dynamic::Var(static_cast<Poco::Int64>(*h.parent_id))
                                    : Poco::Dynamic::Var());
  return doc;
}

}  // namespace

std::string SearchJson(const app::SearchResults& results) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& h : results.results) {
    auto doc = DocumentObject(h);
    auto o = NewObject();
    o->set("chunk_id", static_cast<Poco::Int64>(h.chunk_id));
    o->set("document", doc);
    o->set("page", h.page ? Poco::Dynamic::Var(*h.page) : Poco::Dynamic::Var());
    o->set("text", h.text);
    o->set("snippet", h.snippet);
    o->set("score", h.score);
    list->add(o);
  }
  auto o = NewObject();
  o->set("mode", results.mode);
  o->set("results", list);
  if (!results.skipped_words.empty()) {
    Poco::JSON::Array::Ptr skipped = new Poco::JSON::Array;
    for (const auto& w : results.skipped_words) skipped->add(w);
    o->set("skipped_words", skipped);
  }
  return Stringify(o);
}

Poco::JSON::Array::Ptr SourcesArray(const std::vector<app::AnswerSource>& sources) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& s : sources) {
    auto o = NewObject();
    o->set("n", s.n);
    o->set("chunk_id", static_cast<Poco::Int64>(s.passage.chunk_id));
    o->set("document", DocumentObject(s.passage));
    o->set("page", s.passage.page ? Poco::Dynamic::Var(*s.passage.page) : Poco::Dynamic::Var());
    o->set("text", s.passage.text);
    list->add(o);
  }
  return list;
}

std::string AnswerJson(const app::Answer& a) {
  Poco::JSON::Array::Ptr sources = SourcesArray(a.sources);
  Poco::JSON::Array::Ptr sentences = new Poco::JSON::Array;
  for (const auto& s : a.sentences) {
    auto o = NewObject();
    o->set("text", s.text);
    Poco::JSON::Array::Ptr ns = new Poco::JSON::Array;
    for (int n : s.sources) ns->add(n);
    o->set("sources", ns);
    sentences->add(o);
  }
  auto search = NewObject();
  search->set("mode", a.search_mode);
  search->set("query", a.search_query);
  search->set("passages", a.passages_considered);
  auto usage = NewObject();
  usage->set("prompt_tokens", static_cast<Poco::Int64>(a.prompt_tokens));
  usage->set("completion_tokens", static_cast<Poco::Int64>(a.generated_tokens));
  usage->set("seconds", a.seconds);
  usage->set("first_token_seconds", a.first_token_seconds);
  auto o = NewObject();
  o->set("mode", a.mode);
  o->set("answer", a.text);
  o->set("evidence", a.evidence);
  o->set("sources", sources);
  o->set("sentences", sentences);
  o->set("search", search);
  o->set("stop", a.stop.empty() ? Poco::Dynamic::Var() : Poco::Dynamic::Var(a.stop));
  o->set("usage", usage);
  return Stringify(o);
}

namespace {

Poco::JSON::Object::Ptr DocumentObjectOf(const app::DocumentInfo& d) {
  auto o = NewObject();
  o->set("id", static_cast<Poco::Int64>(d.id));
  o->set("parent_id", d.parent_id ? Poco::Dynamic::Var(static_cast<Poco::Int64>(*d.parent_id)) : Poco::Dynamic::Var());
  o->set("path", d.path);
  o->set("name", d.name);
  o->set("title", d.title);
  o->set("type", d.type);
  o->set("collection", d.collection);
  o->set("status", d.status);
  o->set("error", d.error);
  o->set("pages", static_cast<Poco::Int64>(d.pages));
  o->set("chunks", static_cast<Poco::Int64>(d.chunks));
  o->set("attachments", static_cast<Poco::Int64>(d.attachments));
  o->set("size_bytes", static_cast<Poco::Int64>(d.size_bytes));
  o->set("created_at", static_cast<Poco::Int64>(d.created_at));
  o->set("updated_at", static_cast<Poco::Int64>(d.updated_at));
  o->set("from", d.from);
  o->set("date", d.date);
  o->set("subject", d.subject);
  return o;
}

Poco::JSON::Object::Ptr JobObject(const app::JobInfo& j) {
  auto o = NewObject();
  o->set("id", static_cast<Poco::Int64>(j.id));
  o->set("name", j.name);
  o->set("path", j.path);
  o->set("state", j.state);
  o->set("progress", j.progress);
  o->set("error", j.error);
  o->set("document_id", j.document_id ? Poco::Dynamic::Var(static_cast<Poco::Int64>(*j.document_id)) : Poco::Dynamic::Var());
  return o;
}

}  // namespace

std::string DocumentJson(const app::DocumentInfo& document) { return Stringify(DocumentObjectOf(document)); }

std::string DocumentListJson(const app::DocumentList& list) {
  Poco::JSON::Array::Ptr docs = new Poco::JSON::Array;
  for (const auto& d : list.documents) docs->add(DocumentObjectOf(d));
  auto o = NewObject();
  o->set("total", static_cast<Poco::Int64>(list.total));
  o->set("documents", docs);
  return Stringify(o);
}

std::string PassagesJson(const std::vector<app::PassageInfo>& passages) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& p : passages) {
    auto o = NewObject();
    o->set("id", static_cast<Poco::Int64>(p.id));
    o->set("ordinal", p.ordinal);
    o->set("page", p.page ? Poco::Dynamic::Var(*p.page) : Poco::Dynamic::Var());
    o->set("text", p.text);
    list->add(o);
  }
  auto o = NewObject();
  o->set("chunks", list);
  return Stringify(o);
}

std::string JobJson(const app::JobInfo& job) { return Stringify(JobObject(job)); }

std::string JobsJson(const std::vector<app::JobInfo>& jobs) {
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const auto& j : jobs) list->add(JobObject(j));
  auto o = NewObject();
  o->set("jobs", list);
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
