// Retrieval: the embedding model, the FAISS index kept in step with the catalog, and hybrid
// search (BM25 and vectors fused by reciprocal rank). Private to app.
//
// Consistency (DESIGN.md): SQLite is the source of truth. Every vector is stored in the
// catalog's embeddings table before it enters the index, so the index can always be rebuilt
// without re-embedding. At open the index file is loaded and compared with the catalog (vector
// count for the model in use); a missing, unreadable or disagreeing index is rebuilt from the
// stored embeddings. Deleted chunks leave the index at once (tombstoned where FAISS cannot
// remove); their memory goes at the next compaction or rebuild.
//
// Thread safety: every method may be called from several threads; the embedder serialises its
// own calls and the index has its own reader/writer lock.
#pragma once

#include <atomic>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/app/knowledge_base.h"
#include "cloister/embed/embedder.h"
#include "cloister/index/vector_index.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {

class Retriever {
 public:
  explicit Retriever(Config config);

  // Opens the embedding model named by `model` (none: lexical only) and the index, repairing it
  // from `catalog` when needed. kFailedPrecondition when the model cannot be loaded.
  Status Open(const std::optional<ModelEntry>& model, storage::Catalog& catalog);

  bool semantic() const { return embedder_ != nullptr; }
  // Tokens of `text` as the embedding model counts them (chunk budgets); 0 without a model.
  int CountTokens(std::string_view text) const { return embedder_ ? embedder_->CountTokens(text) : 0; }
  const std::string& model_id() const { return model_id_; }

  // Embeds the chunks the job stored (still invisible), keeps the vectors in the catalog and
  // adds them to the index. A no-op without an embedding model.
  Status EmbedJob(storage::Catalog& catalog, int64_t job_id);
  // Chunks that left the catalog (or are about to): out of the index now.
  void Forget(const std::vector<int64_t>& chunk_ids);

  Result<SearchResults> Search(storage::Catalog& catalog, const std::string& query,
                               const SearchOptions& options);

  // Keeps the index the right kind and size: rebuilt from the stored embeddings when the
  // collection crossed the exact/approximate threshold, compacted when removed vectors pile up.
  // Called after ingestion batches; searches go on meanwhile (the new index is swapped in).
  Status Maintain(storage::Catalog& catalog);
  // Writes the index file if it changed since the last save.
  Status Save();
  std::string index_kind() const;
  int64_t index_size() const;

 private:
  Status LoadOrRebuild(storage::Catalog& catalog);
  Status Rebuild(storage::Catalog& catalog, int64_t expected);
  Result<std::vector<std::pair<int64_t, double>>> VectorRanking(const std::string& query, int n);
  void MergeNeighbours(storage::Catalog& catalog, const storage::ChunkRef& r,
                       const std::map<int64_t, double>& fused,
                       std::set<std::pair<int64_t, int>>* taken, SearchHit* hit);
  Status Diversify(storage::Catalog& catalog, const SearchOptions& o,
                   std::vector<std::pair<int64_t, double>>* ranking);

  index::VectorIndexOptions IndexOptions() const;

  Config config_;
  std::unique_ptr<embed::Embedder> embedder_;
  std::string model_id_;
  std::mutex index_mu_;  // guards replacing index_ (the index itself is thread-safe)
  std::shared_ptr<index::VectorIndex> index_;
  std::atomic<bool> dirty_{false};
};

}  // namespace cloister::app
