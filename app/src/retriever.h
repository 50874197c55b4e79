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
// Changing the embedding model: vectors are stored per model id (the file name) and each model
// has its own index file (Config::index_path). The catalog setting kActiveModelSetting names the
// model whose vectors serve. When the configured model differs, the old one keeps answering
// queries (if its file is still in the models folder; otherwise search is lexical meanwhile),
// ingestion embeds with both, and Reembed() fills in the new model's vectors, builds its index,
// then switches: the index file is saved before the setting changes, so a crash at any point
// leaves either the old state or the new one, and a re-run resumes where it stopped.
//
// Thread safety: every method may be called from several threads; the embedder serialises its
// own calls and the index has its own reader/writer lock.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/app/knowledge_base.h"
#include "cloister/embed/embedder.h"
#include "cloister/index/vector_index.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {

// The collections a caller may read: every one (nullopt) or these ids (maybe none).
using Readable = std::optional<std::vector<int64_t>>;

// Where a change of embedding model stands (Retriever::Reembedding).
struct ReembedState {
  std::string from;           // the model whose vectors answer queries meanwhile
  std::string to;             // the configured model
  int64_t done = 0;           // chunks with a vector from `to`
  int64_t total = 0;          // chunks
  bool old_vectors_serve = false;  // false: `from` is gone from the models folder, search is lexical
};

class Retriever {
 public:
  explicit Retriever(Config config);

  // Opens the embedding model named by `model` (none: lexical only) and its index, repairing it
  // from `catalog` when needed. When the catalog's vectors come from another model (the setting
  // kActiveModelSetting), that model keeps serving queries, if it is still among `available`,
  // until Reembed() has given every chunk a vector from the new one.
  // kFailedPrecondition when a model cannot be loaded.
  Status Open(const std::optional<ModelEntry>& model, const std::vector<ModelEntry>& available,
              storage::Catalog& catalog);

  // Whether ingestion must embed (a model is configured, re-embedding or not).
  bool semantic() const;
  // Tokens of `text` as the configured embedding model counts them (chunk budgets); 0 without one.
  int CountTokens(std::string_view text) const;

  // Embeds the chunks the job stored (still invisible), keeps the vectors in the catalog and
  // adds them to the index. While re-embedding, with both models. A no-op without a model.
  Status EmbedJob(storage::Catalog& catalog, int64_t job_id);
  // Chunks that left the catalog (or are about to): out of the index now.
  void Forget(const std::vector<int64_t>& chunk_ids);

  // Vectors of `texts` from the configured model (KnowledgeBase::Embed).
  Result<TextEmbeddings> EmbedTexts(const std::vector<std::string>& texts, bool as_query) const;

  // Only chunks of `readable` collections are ranked, lexically and by vector.
  Result<SearchResults> Search(storage::Catalog& catalog, const std::string& query,
                               const SearchOptions& options, const Readable& readable);

  // Set while the configured model differs from the one whose vectors serve; `catalog` counts.
  std::optional<ReembedState> Reembedding(storage::Catalog& catalog) const;
  // Gives every chunk a vector from the configured model, in batches, then builds its index and
  // swaps it in: from then on queries use the new model, and the old vectors and index file
  // are deleted. Searches go on throughout with the old vectors. `catalog` is a connection of
  // the caller's own (this runs for a long time). Returns early, Ok, when `stop` says so (the
  // next call resumes: the work list is "chunks without a vector"); Ok at once when there is
  // nothing to re-embed. `progress` is called after each batch.
  Status Reembed(storage::Catalog& catalog, const std::function<bool()>& stop,
                 const std::function<void(const ReembedState&)>& progress = {});

  // Keeps the index the right kind and size: rebuilt from the stored embeddings when the
  // collection crossed the exact/approximate threshold, compacted when removed vectors pile up.
  // Called after ingestion batches; searches go on meanwhile (the new index is swapped in).
  Status Maintain(storage::Catalog& catalog);
  // Writes the index file if it changed since the last save.
  Status Save();
  // The file the serving model's index is saved to; empty without a model.
  std::filesystem::path serving_index_path() const;
  std::string index_kind() const;
  int64_t index_size() const;

 private:
  // A model's vectors: the embedder that makes them and the index that holds them (none for a
  // model being re-embedded into, until the end). Held by shared_ptr: a caller that took one
  // under spaces_mu_ may go on using it after a switch.
  struct Space {
    std::unique_ptr<embed::Embedder> embedder;
    std::string model_id;
    std::shared_ptr<index::VectorIndex> GetIndex() const {
      std::lock_guard lock(index_mu);
      return index;
    }
    void SetIndex(std::shared_ptr<index::VectorIndex> i) {
      std::lock_guard lock(index_mu);
      index = std::move(i);
    }
    mutable std::mutex index_mu;
    std::shared_ptr<index::VectorIndex> index;
  };
  std::shared_ptr<Space> Serving() const;

  // `id` replaces the model's own id (the old model of a re-embedding, whose vectors were made
  // under another document prefix).
  Result<std::shared_ptr<Space>> OpenSpace(const ModelEntry& model, std::optional<std::string> id = {}) const;
  Status LoadOrRebuild(storage::Catalog& catalog, Space& space);
  Result<std::unique_ptr<index::VectorIndex>> BuildFromCatalog(storage::Catalog& catalog,
                                                               const Space& space);
  Status FinishReembedding(storage::Catalog& catalog, const std::shared_ptr<Space>& target);
  Result<std::vector<std::pair<int64_t, double>>> VectorRanking(const Space& space, const std::string& query,
                                                                int n, const index::IdFilter* allowed);
  void MergeNeighbours(storage::Catalog& catalog, const storage::ChunkRef& r,
                       const std::map<int64_t, double>& fused,
                       std::set<std::pair<int64_t, int>>* taken, SearchHit* hit);
  Status Diversify(storage::Catalog& catalog, const std::string& model_id, const SearchOptions& o,
                   std::vector<std::pair<int64_t, double>>* ranking);

  index::VectorIndexOptions IndexOptions() const;

  Config config_;
  // Guards which spaces exist (serving_, target_); exclusive only to switch models. Each
  // embedder serialises its own calls; each index has its own reader/writer lock.
  mutable std::shared_mutex spaces_mu_;
  std::shared_ptr<Space> serving_;  // answers queries; null: lexical
  std::shared_ptr<Space> target_;   // the configured model while re-embedding into it
  // While FinishReembedding builds the new index: vectors ingestion gave the target meanwhile
  // and chunks forgotten meanwhile, applied to the new index before it is swapped in.
  std::mutex late_mu_;
  bool collecting_late_ = false;
  std::vector<index::IdVector> late_vectors_;
  std::vector<int64_t> late_forgotten_;
  std::atomic<bool> dirty_{false};
};

// The catalog setting naming the model whose vectors the index holds.
inline constexpr std::string_view kActiveModelSetting = "embedding_model";

}  // namespace cloister::app
