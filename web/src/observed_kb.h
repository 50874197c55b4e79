// The knowledge base as every HTTP handler sees it: each call forwarded to the real one, and on
// the way measured (Metrics: search and answer latencies, tokens, answers in flight, refusals),
// audited (AuditLog: who searched, asked, downloaded, uploaded, deleted, with the documents
// involved) and, for answers, cancellable by the server's stop (so requests cut off after the
// shutdown grace free their generation slots and their threads at once). One wrapper serves the
// JSON API and the OpenAI-compatible API alike. Private to web/.
//
// Who is calling comes from the RequestScope the handler opened on its thread: the audit needs
// the user's name and address, which a Caller does not carry.
#pragma once

#include <stop_token>
#include <string>

#include "cloister/app/knowledge_base.h"
#include "cloister/web/audit_log.h"
#include "metrics.h"

namespace cloister::web {

// The request being handled on this thread.
struct RequestContext {
  std::string route = "other";  // the endpoint's path template
  std::string user;             // empty with authentication off
  std::string auth = "none";    // "session", "api_key", "none"
  std::string key;              // "id N" of the API key, when auth is "api_key"
  std::string client;           // the peer's address
};

// Makes `context` the current request's on this thread until destroyed.
class RequestScope {
 public:
  explicit RequestScope(RequestContext* context);
  ~RequestScope();
  RequestScope(const RequestScope&) = delete;
  RequestScope& operator=(const RequestScope&) = delete;
  static RequestContext* Current();  // null outside a request
};

// An audit event filled in with the current request's caller.
AuditEvent EventForCurrentRequest(std::string action);

class ObservedKnowledgeBase final : public app::KnowledgeBase {
 public:
  // `audit` may be null (no audit log). `stopping` cancels every answer in progress.
  ObservedKnowledgeBase(app::KnowledgeBase& kb, Metrics& metrics, AuditLog* audit, std::stop_token stopping)
      : kb_(kb), metrics_(metrics), audit_(audit), stopping_(std::move(stopping)) {}

  const app::Config& config() const override { return kb_.config(); }
  Result<app::StatusReport> Status(const app::Caller& caller) override { return kb_.Status(caller); }
  Result<app::IngestReport> Ingest(const std::vector<std::filesystem::path>& paths,
                                   const std::function<void(const app::IngestProgress&)>& progress) override {
    return kb_.Ingest(paths, progress);
  }
  Result<app::SearchResults> Search(const app::Caller& caller, const std::string& query, int k) override;
  Result<app::SearchResults> Search(const app::Caller& caller, const std::string& query,
                                    const app::SearchOptions& options) override;
  cloister::Status DeleteDocument(int64_t document_id) override;
  Result<app::DocumentList> ListDocuments(const app::Caller& caller, int64_t offset, int64_t limit) override {
    return kb_.ListDocuments(caller, offset, limit);
  }
  Result<app::DocumentInfo> GetDocument(const app::Caller& caller, int64_t id) override {
    return kb_.GetDocument(caller, id);
  }
  Result<std::vector<app::PassageInfo>> DocumentPassages(const app::Caller& caller, int64_t id) override {
    return kb_.DocumentPassages(caller, id);
  }
  Result<std::filesystem::path> OriginalFile(const app::Caller& caller, int64_t id) override;
  Result<app::JobInfo> GetJob(const app::Caller& caller, int64_t id) override { return kb_.GetJob(caller, id); }
  Result<app::TextEmbeddings> Embed(const std::vector<std::string>& texts, bool as_query) override {
    return kb_.Embed(texts, as_query);
  }
  Result<app::JobInfo> AddUpload(const app::Caller& caller, const std::filesystem::path& staged,
                                 const std::string& original_name, const std::string& collection) override;
  Result<app::Answer> Ask(const app::Caller& caller, const std::string& question, const app::AskOptions& options,
                          const app::AnswerCallback& on_token) override;
  cloister::Status Reembed(const std::function<void(const app::StatusReport::Reembedding&)>& progress) override {
    return kb_.Reembed(progress);
  }
  Result<app::BackupReport> Backup(const std::filesystem::path& dest) override { return kb_.Backup(dest); }
  cloister::Status StartBackground() override { return kb_.StartBackground(); }
  void StopBackground() override { kb_.StopBackground(); }

 private:
  void Record(AuditEvent event, const cloister::Status& outcome);

  app::KnowledgeBase& kb_;
  Metrics& metrics_;
  AuditLog* audit_;
  std::stop_token stopping_;
};

}  // namespace cloister::web
