// Nearest-neighbour search over chunk vectors, backed by FAISS.
//
//   auto index = index::VectorIndex::Create(384, {});          // or Load(path), or Build(...)
//   CLOISTER_RETURN_IF_ERROR(index->Add({{chunk_id, vector}, ...}));
//   auto hits = index->Search(query_vector, 10);               // best first
//   if (index::ShouldRebuild(*index, options)) { /* Build(...) from the stored embeddings */ }
//   CLOISTER_RETURN_IF_ERROR(index->Save("data/vectors.faiss"));
//
// Ids are chunk ids (non-negative). Vectors are expected unit-length; the score is their inner
// product (cosine). The FAISS index is always an IndexIDMap2 (FAISS id = chunk id) around one of:
//
//   "Flat"        exact search, while the collection is below `exact_below` vectors;
//   "HNSW32_SQ8"  approximate: HNSW graph (M = 32) over 8-bit scalar-quantized vectors, for
//                 vectors of more than 128 dimensions (384 B of codes + ~336 B of links and ids
//                 per 384-d vector, measured: 687 MiB per million instead of ~1.8 GiB);
//   "HNSW32"      approximate, float storage, for vectors of up to 128 dimensions (4 B per
//                 dimension + ~336 B: under 1 GiB per million).
//
// Why these, measured on the 2-core development machine with bench/search_bench (384-d unit
// vectors in 1000 Gaussian clusters, 1000 fresh queries for the top 10, one at a time; the
// machine was shared with other builds, so take latencies as +-30%):
//
//   Flat (exact): p50 6.3 ms at 20k vectors, 9.4 at 30k, 15.5 at 50k, 33 at 100k, 1M_FLAT at
//     1M: ~0.33 us per vector, memory-bound. 1.5 GiB per million vectors.
//   HNSW32_SQ8, efConstruction 40: built from scratch in 66 s at 50k, 109 s at 100k,
//     1M_BUILD at 1M (both cores). 687 MiB per million (1M_MEM at 1M).
//     recall@10 against Flat and p50 at 100k for efSearch 32 / 64 / 96 / 128:
//     0.918 / 0.968 / 0.977 / 0.981 and 0.35 / 0.46 / 0.60 / 0.99 ms; at 1M: 1M_RECALL.
//     efConstruction 80 took 162 s at 100k for 0.978-0.983: 1.5x the build time (paid again by
//     every rebuild and compaction on two cores) for what efSearch buys at query time instead.
//   IVF1024,SQ8, nprobe 16: 10 s to build at 100k (k-means), p50 1.05 ms, recall@10 0.984,
//     569 MiB per million. But on noise-like data (10000 clusters, spread 0.08) it fell to 0.46
//     at nprobe 64 (3.1 ms) where HNSW kept 0.61 at efSearch 64 (2.8 ms), and its lists must be
//     re-chosen and retrained as a collection grows or drifts; HNSW needs neither. IVF stays
//     available through `factory` where build time matters more than either.
//   exact_below = 50k: exact search stays near 15 ms there, small beside generation (seconds),
//     and misses nothing; past it HNSW is 20-60x faster and the one rebuild costs about a minute.
//   SQ8 storage costs 1-2% of recall@10 (the ceiling near 0.98-0.99 above) and saves 1.1 GiB
//     per million 384-d vectors against float storage (HNSW32: ~1.8 GiB).
//   Searches, and adds or compactions of fewer than 8192 vectors, run with one OpenMP thread
//     (see faiss_index.cpp): with two, a busy machine made HNSW searches 9x and Flat 1.3x
//     slower, as OpenMP waited at its barrier for a second thread that had nothing to do.
//
// Removal: Flat frees a removed vector at once. HNSW cannot remove, so other kinds tombstone it:
// it leaves the results at once (searches skip it through a FAISS IDSelector) and its memory is
// freed by the next Compact() or rebuild. Tombstones live in the FAISS file itself (the removed
// vector's entry in IndexIDMap2's id map becomes -1), so Save writes one file, atomically, and
// Load restores them; a plain FAISS reader sees removed vectors as label -1 ("no result").
//
// Thread safety: any number of concurrent Search, size(), kind() and Save calls; Add, Remove,
// SetSearchOptions and the final swap of Compact take an exclusive lock. Compact rebuilds under a
// shared lock, so searches go on meanwhile, but writers wait for it: minutes for a large HNSW
// (build times above), so run it when ingestion is idle. FAISS parallelises Build, Add and
// Compact with OpenMP over all cores (small ones excepted); Search uses one thread, so
// concurrent searches scale with the caller's threads. If OpenMP's threads spinning idle after
// a build ever show up beside llama.cpp, OMP_WAIT_POLICY=passive in the service's environment
// stops it (not seen so far).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cloister/core/status.h"

namespace cloister::index {

struct VectorIndexOptions {
  // FAISS index_factory description (inner-product metric always), e.g. "Flat", "HNSW32_SQ8",
  // "IVF1024,SQ8". Empty (the default): chosen by collection size, see ChooseFactory().
  std::string factory = "";
  // With an automatic factory, collections of fewer vectors than this are searched exactly.
  int64_t exact_below = 50'000;
  // HNSW: graph links per vector (M) when chosen automatically; breadth of the candidate list
  // while inserting (efConstruction) and while searching (efSearch; raised to k when k is
  // larger). Apply to any HNSW index this creates, including one named by `factory`.
  int hnsw_m = 32;
  int hnsw_ef_construction = 40;
  int hnsw_ef_search = 96;
  // IVF (only through `factory`): inverted lists probed per search.
  int ivf_nprobe = 32;
};

struct VectorHit {
  int64_t id = 0;
  float score = 0;
};

struct IdVector {
  int64_t id = 0;
  std::vector<float> vector;
};

// Fills `batch` (cleared by the caller) with the next vectors; an empty batch ends the stream.
// An error ends the build and is returned by it.
using VectorBatchSource = std::function<Status(std::vector<IdVector>* batch)>;

// The FAISS factory description the automatic choice gives a collection of `expected_size`
// vectors of `dimension`: options.factory when set, else "Flat" below options.exact_below, else
// "HNSW<M>_SQ8" above 128 dimensions and "HNSW<M>" up to 128.
std::string ChooseFactory(int64_t expected_size, int dimension, const VectorIndexOptions& options);

class VectorIndex {
 public:
  // An empty index of the kind ChooseFactory(0, dimension, options) names ("Flat" by default).
  // kInvalidArgument for a non-positive dimension, an option out of range (hnsw_m < 2,
  // ef or nprobe < 1, exact_below < 0) or a factory string FAISS rejects.
  static Result<std::unique_ptr<VectorIndex>> Create(int dimension,
                                                     const VectorIndexOptions& options);
  // An index of the kind ChooseFactory(all.size(), ...) names, trained if the kind needs it
  // (on the first 131072 vectors) and holding all of them. Later duplicates of an id replace
  // earlier ones. Errors as Create, plus kInvalidArgument for a vector of the wrong length or a
  // negative id (naming it) and kInternal for a FAISS failure.
  static Result<std::unique_ptr<VectorIndex>> Build(int dimension, const std::vector<IdVector>& all,
                                                    const VectorIndexOptions& options);
  // The same, streaming: the kind is chosen for `expected_size`; vectors are held until the
  // training sample is complete (kinds that train), then added 65536 at a time whatever the
  // source's batch size, so memory stays at the index plus up to 131072 vectors. An error from
  // `next` is returned as is.
  static Result<std::unique_ptr<VectorIndex>> Build(int dimension, int64_t expected_size,
                                                    const VectorBatchSource& next,
                                                    const VectorIndexOptions& options);
  // kNotFound if the file is missing; kDataLoss if it is not a readable FAISS index with chunk
  // ids (rebuild it from the stored embeddings). Search parameters (efSearch, nprobe) are those
  // saved with it.
  static Result<std::unique_ptr<VectorIndex>> Load(const std::filesystem::path& path);
  virtual ~VectorIndex() = default;

  virtual int dimension() const = 0;
  // Live vectors: removed ones do not count, even before Compact().
  virtual int64_t size() const = 0;
  // Removed vectors still holding memory until Compact(); always 0 for Flat.
  virtual int64_t tombstones() const = 0;
  // The FAISS factory description of the inner index ("Flat", "HNSW32_SQ8", "IVF1024,SQ8"),
  // the same after Load. For a kind this module cannot describe: the override as spelled when
  // created, "" when loaded.
  virtual std::string factory() const = 0;
  // A short description, e.g. "IDMap2,Flat (inner product)".
  virtual std::string kind() const = 0;

  // Replaces vectors whose id is already present. kInvalidArgument if a vector's length is not
  // dimension() or an id is negative, naming it; nothing is added then. An index that needs
  // training and is not trained yet (only through a `factory` override) is trained on this
  // batch: kFailedPrecondition if FAISS finds it too small (use Build instead).
  virtual Status Add(const std::vector<IdVector>& items) = 0;
  // Ids not present are ignored. Returns how many were removed; they never appear in results
  // from now on. Flat frees them at once, other kinds at the next Compact().
  virtual int64_t Remove(const std::vector<int64_t>& ids) = 0;
  // Up to k hits, best first, never a removed id. With tombstones the search widens (efSearch,
  // nprobe) in proportion to them, and HNSW falls back to an exact scan of its stored vectors
  // when the graph no longer reaches k live ones: slow, so Compact() long before that.
  // kInvalidArgument if the query length is not dimension(); kInternal for a FAISS failure.
  virtual Result<std::vector<VectorHit>> Search(const std::vector<float>& query, int k) const = 0;
  // Rebuilds the same kind without the tombstoned vectors, freeing their memory; a no-op without
  // tombstones. Vectors come from the index itself: exact for float storage, while SQ8 vectors
  // are re-encoded from their 8-bit values (no further loss beyond one quantization step; a
  // Build from the stored embeddings is exact). kFailedPrecondition for a kind factory() cannot
  // describe; kInternal for a FAISS failure (the index is unchanged then).
  virtual Status Compact() = 0;
  // Applies options.hnsw_ef_search (HNSW) or options.ivf_nprobe (IVF) to the index as it is,
  // e.g. after Load; kept by the next Save. Other options need a rebuild. kInvalidArgument when
  // either is below 1.
  virtual Status SetSearchOptions(const VectorIndexOptions& options) = 0;
  // Written to a temporary file beside `path`, then renamed over it; tombstones included.
  virtual Status Save(const std::filesystem::path& path) const = 0;
};

// True when `index` should be rebuilt (with Build, from the stored embeddings) because the
// automatic choice for its current size names another kind: it grew to exact_below or beyond
// while exact, or shrank below exact_below / 2 while approximate (the gap keeps a collection
// near the threshold from flipping). Always false with a `factory` override.
bool ShouldRebuild(const VectorIndex& index, const VectorIndexOptions& options);

}  // namespace cloister::index
