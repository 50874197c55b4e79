// A stand-in for a slow chat model, for tests of what happens while answers are in progress:
// Ask waits until the test releases it (then the real knowledge base answers), until it is
// cancelled (then kUnavailable), or 60 s. Everything else is the real knowledge base.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cloister/app/knowledge_base.h"

namespace cloister::web {

class SlowAnswers final : public app::KnowledgeBase {
 public:
  explicit SlowAnswers(app::KnowledgeBase& kb) : kb_(kb) {}
  std::atomic<bool> asked{false}, cancelled{false};
  std::atomic<int> asking{0};  // answers waiting now
  void Release() { released_ = true; }

  Result<app::Answer> Ask(const app::Caller& caller, const std::string& question,
                          const app::AskOptions& options, const app::AnswerCallback& on_token) override {
    asked = true;
    ++asking;
    for (int i = 0; i < 6000 && !released_ && !options.cancel.stop_requested(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    --asking;
    cancelled = options.cancel.stop_requested();
    if (!released_) return Unavailable("cancelled");
    return kb_.Ask(caller, question, options, on_token);
  }
  const app::Config& config() const override { return kb_.config(); }
  Result<app::StatusReport> Status(const app::Caller& c) override { return kb_.Status(c); }
  Result<app::IngestReport> Ingest(const std::vector<std::filesystem::path>& p,
                                   const std::function<void(const app::IngestProgress&)>& f) override {
    return kb_.Ingest(p, f);
  }
  Result<app::SearchResults> Search(const app::Caller& c, const std::string& q, int k) override {
    return kb_.Search(c, q, k);
  }
  Result<app::SearchResults> Search(const app::Caller& c, const std::string& q,
                                    const app::SearchOptions& o) override {
    return kb_.Search(c, q, o);
  }
  cloister::Status DeleteDocument(int64_t id) override { return kb_.DeleteDocument(id); }
  Result<app::DocumentList> ListDocuments(const app::Caller& c, int64_t o, int64_t l) override {
    return kb_.ListDocuments(c, o, l);
  }
  Result<app::DocumentInfo> GetDocument(const app::Caller& c, int64_t id) override {
    return kb_.GetDocument(c, id);
  }
  Result<std::vector<app::PassageInfo>> DocumentPassages(const app::Caller& c, int64_t id) override {
    return kb_.DocumentPassages(c, id);
  }
  Result<std::filesystem::path> OriginalFile(const app::Caller& c, int64_t id) override {
    return kb_.OriginalFile(c, id);
  }
  Result<app::JobInfo> GetJob(const app::Caller& c, int64_t id) override { return kb_.GetJob(c, id); }
  Result<app::TextEmbeddings> Embed(const std::vector<std::string>& t, bool q) override {
    return kb_.Embed(t, q);
  }
  Result<app::JobInfo> AddUpload(const app::Caller& c, const std::filesystem::path& s,
                                 const std::string& n, const std::string& col) override {
    return kb_.AddUpload(c, s, n, col);
  }
  cloister::Status Reembed(const std::function<void(const app::StatusReport::Reembedding&)>& p) override {
    return kb_.Reembed(p);
  }
  Result<app::BackupReport> Backup(const std::filesystem::path& d) override { return kb_.Backup(d); }
  cloister::Status StartBackground() override { return kb_.StartBackground(); }
  void StopBackground() override { kb_.StopBackground(); }

 private:
  app::KnowledgeBase& kb_;
  std::atomic<bool> released_{false};
};

}  // namespace cloister::web
