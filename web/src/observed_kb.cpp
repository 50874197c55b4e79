#include "observed_kb.h"

#include <chrono>
#include <set>

#include "http_connection.h"

namespace cloister::web {
namespace {

thread_local RequestContext* current = nullptr;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

RequestScope::RequestScope(RequestContext* context) { current = context; }
RequestScope::~RequestScope() { current = nullptr; }
RequestContext* RequestScope::Current() { return current; }

AuditEvent EventForCurrentRequest(std::string action) {
  AuditEvent event;
  event.action = std::move(action);
  if (const RequestContext* c = RequestScope::Current()) {
    event.user = c->user;
    event.auth = c->auth;
    event.key = c->key;
    event.client = c->client;
  }
  return event;
}

void ObservedKnowledgeBase::Record(AuditEvent event, const cloister::Status& outcome) {
  if (!audit_) return;
  if (!outcome.ok()) {
    event.details.emplace_back("error", std::string(StatusCodeName(outcome.code())));
  }
  audit_->Record(event);
}

Result<app::SearchResults> ObservedKnowledgeBase::Search(const app::Caller& caller, const std::string& query, int k) {
  app::SearchOptions options = app::SearchDefaults(kb_.config());
  options.k = k;
  return Search(caller, query, options);
}

Result<app::SearchResults> ObservedKnowledgeBase::Search(const app::Caller& caller, const std::string& query,
                                                         const app::SearchOptions& options) {
  auto start = std::chrono::steady_clock::now();
  auto results = kb_.Search(caller, query, options);
  if (results.ok()) metrics_.ObserveSearch(results->mode, SecondsSince(start));
  AuditEvent event = EventForCurrentRequest("search");
  event.text = query;
  if (results.ok()) {
    std::set<int64_t> seen;
    for (const auto& hit : results->results) {
      if (seen.insert(hit.document_id).second) event.documents.push_back({hit.document_id, hit.title});
    }
  }
  Record(std::move(event), results.status());
  return results;
}

cloister::Status ObservedKnowledgeBase::DeleteDocument(int64_t document_id) {
  cloister::Status deleted = kb_.DeleteDocument(document_id);
  AuditEvent event = EventForCurrentRequest("delete");
  event.documents.push_back({document_id, ""});
  Record(std::move(event), deleted);
  return deleted;
}

Result<std::filesystem::path> ObservedKnowledgeBase::OriginalFile(const app::Caller& caller, int64_t id) {
  auto file = kb_.OriginalFile(caller, id);
  AuditEvent event = EventForCurrentRequest("download");
  event.documents.push_back({id, file.ok() ? file->filename().string() : ""});
  Record(std::move(event), file.status());
  return file;
}

Result<app::JobInfo> ObservedKnowledgeBase::AddUpload(const app::Caller& caller, const std::filesystem::path& staged,
                                                      const std::string& original_name, const std::string& collection) {
  auto job = kb_.AddUpload(caller, staged, original_name, collection);
  AuditEvent event = EventForCurrentRequest("upload");
  event.text = original_name;
  if (!collection.empty()) event.details.emplace_back("collection", collection);
  if (job.ok()) event.details.emplace_back("job", std::to_string(job->id));
  Record(std::move(event), job.status());
  return job;
}

Result<app::Answer> ObservedKnowledgeBase::Ask(const app::Caller& caller, const std::string& question,
                                               const app::AskOptions& options, const app::AnswerCallback& on_token) {
  // Cancelled by the caller's own token (if any), by the server stopping or by the client hanging
  // up (an answer nobody will read would hold its generation slot, or its place in the queue, to
  // the end), whichever comes first.
  std::stop_source cancel;
  std::stop_callback by_caller(options.cancel, [&] { cancel.request_stop(); });
  std::stop_callback by_server(stopping_, [&] { cancel.request_stop(); });
  std::stop_callback by_client(ClientHangUp(), [&] { cancel.request_stop(); });
  app::AskOptions with_stop = options;
  with_stop.cancel = cancel.get_token();

  metrics_.AnswerStarted();
  auto answer = kb_.Ask(caller, question, with_stop, on_token);
  metrics_.AnswerEnded();
  if (!answer.ok() && answer.status().code() == StatusCode::kUnavailable) metrics_.AnswerRefused();
  if (answer.ok()) {
    bool generated = answer->mode == "generated" && answer->generated_tokens > 0;
    metrics_.ObserveAnswer(answer->mode, answer->seconds, generated ? answer->first_token_seconds : -1,
                           answer->prompt_tokens, answer->generated_tokens);
  }
  const RequestContext* context = RequestScope::Current();
  AuditEvent event = EventForCurrentRequest(context && context->route == "/v1/chat/completions" ? "chat" : "ask");
  event.text = question;
  if (answer.ok()) {
    std::set<int64_t> seen;
    for (const auto& source : answer->sources) {
      const app::SearchHit& p = source.passage;
      if (seen.insert(p.document_id).second) event.documents.push_back({p.document_id, p.title});
    }
    event.details.emplace_back("mode", answer->mode);
    if (!answer->stop.empty()) event.details.emplace_back("stop", answer->stop);
  }
  Record(std::move(event), answer.status());
  return answer;
}

}  // namespace cloister::web
