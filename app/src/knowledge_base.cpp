#include "cloister/app/knowledge_base.h"

#include <mutex>

#include "cloister/core/files.h"
#include "cloister/core/log.h"
#include "cloister/core/version.h"
#include "cloister/index/vector_index.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {
namespace {

// The first model of each kind (by file name) is the one in use.
std::optional<ModelEntry> FirstOfKind(const std::vector<ModelEntry>& models, const std::string& kind) {
  for (const auto& m : models) {
    if (m.kind == kind) return m;
  }
  return std::nullopt;
}

class KnowledgeBaseImpl final : public KnowledgeBase {
 public:
  KnowledgeBaseImpl(Config config, storage::Catalog catalog,
                    std::unique_ptr<index::VectorIndex> vectors)
      : config_(std::move(config)), catalog_(std::move(catalog)), vectors_(std::move(vectors)) {}

  const Config& config() const override { return config_; }

  Result<StatusReport> Status() override {
    StatusReport r;
    r.version = std::string(Version());
    r.data_dir = config_.data_dir;
    {
      std::lock_guard lock(mu_);
      CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, catalog_.Stats());
      for (const auto& [status, n] : stats.documents) {
        r.documents_by_status[std::string(storage::DocumentStatusName(status))] = n;
        r.documents += n;
      }
      for (const auto& [state, n] : stats.jobs) {
        r.jobs_by_state[std::string(storage::JobStateName(state))] = n;
      }
      r.chunks = stats.chunks;
      r.embeddings = stats.embeddings;
    }
    std::vector<ModelEntry> models = ListModels(config_.models_dir, /*try_load=*/false);
    r.embedding_model = FirstOfKind(models, "embedding");
    r.chat_model = FirstOfKind(models, "chat");
    r.retrieval_mode = r.embedding_model ? "hybrid" : "lexical";
    r.answer_mode = r.chat_model ? "generated" : "extractive";
    r.index_kind = vectors_ ? vectors_->kind() : "none";
    r.index_size = vectors_ ? vectors_->size() : 0;
    return r;
  }

 private:
  Config config_;
  std::mutex mu_;  // the catalog serves one thread at a time
  storage::Catalog catalog_;
  std::unique_ptr<index::VectorIndex> vectors_;
};

}  // namespace

Result<std::unique_ptr<KnowledgeBase>> KnowledgeBase::Open(const Config& config) {
  CLOISTER_RETURN_IF_ERROR(EnsureDirectory(config.data_dir));
  CLOISTER_ASSIGN_OR_RETURN(storage::Catalog catalog,
                            storage::Catalog::Open(config.catalog_path(), {}));
  std::unique_ptr<index::VectorIndex> vectors;
  auto loaded = index::VectorIndex::Load(config.index_path());
  if (loaded.ok()) {
    vectors = std::move(loaded).value();
  } else if (loaded.status().code() != StatusCode::kNotFound) {
    log::Warn("app", "vector index unreadable; search stays lexical until it is rebuilt",
              {{"error", loaded.status().message()}});
  }
  return std::unique_ptr<KnowledgeBase>(
      new KnowledgeBaseImpl(config, std::move(catalog), std::move(vectors)));
}

}  // namespace cloister::app
