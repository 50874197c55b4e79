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
//   "IVF<n>,SQ8"  approximate, from `exact_below` on: n inverted lists (about 4 sqrt(size), a
//                 power of two, at most 4096), vectors 8-bit scalar-quantized, for more than 128
//                 dimensions (384 B of codes + ~200 B of ids per 384-d vector: 569 MiB per
//                 million measured, against ~1.5 GiB with float storage);
//   "IVF<n>,Flat" the same with float storage, up to 128 dimensions (under 1 GiB per million).
// `factory` forces any other FAISS description, e.g. "HNSW32_SQ8".
//
// Why, measured on the 2-core development machine with bench/search_bench (384-d unit vectors in
// 1000 Gaussian clusters, 1000 fresh queries for the top 10, one at a time; the machine was
// shared with other builds, so take times as +-30% and builds under load as up to 2x):
//
//   Flat: p50 6.3 ms at 20k vectors, 9.4 at 30k, 15.5 at 50k, 30 at 100k, 313 at 1M (~0.3 us per
//     vector, memory-bound); 1.5 GiB per million.
//   IVF,SQ8 (this choice), 100k = IVF1024: built in 10-18 s, recall@10 0.984 at every nprobe
//     from 8 to 64 (the SQ8 ceiling), p50 0.74 / 1.1 / 1.6 / 2.8 ms at nprobe 8 / 16 / 32 / 64;
//     569 MiB per million. 1M = IVF2048: built in 67 s, recall@10 0.982 at every nprobe from 8
//     to 64, p50 2.2 / 3.7 / 7.3 / 14 ms at nprobe 8 / 16 / 32 / 64; 514 MiB per million.
//     nprobe 32 by default: on data less kind than these clusters recall grows with it, and at
//     1M it still answers 40x faster than Flat.
//   HNSW32_SQ8, efConstruction 40: 100k built in 50-110 s, recall@10 0.970 / 0.981 / 0.981 at
//     efSearch 64 / 96 / 128, p50 0.46 / 0.62 / 1.07 ms; 687 MiB per million. 1M: built in
//     1447 s (24 min), recall@10 only 0.69 / 0.75 / 0.78 at efSearch 64 / 96 / 128 (p50 1.2 /
//     1.4 / 1.4 ms); 676 MiB per million. efConstruction 80 took 1.5x the build time at 100k.
//   So IVF: it met recall@10 >= 0.95 at both sizes where HNSW missed it at 1M, builds 5x (100k)
//     to 20x (1M) faster (every rebuild, compaction and start-up repair pays that on two cores)
//     and takes less memory; HNSW answers faster per query, but both are 20-40x ahead of Flat.
//     Caveat: the synthetic clusters suit inverted lists (a query's neighbours share a list).
//     On noise-like data (10000 clusters, spread 0.08, 100k) neither kind reaches the target:
//     IVF 0.27 / 0.35 / 0.46 at nprobe 16 / 32 / 64 (1.1 / 1.7 / 3.1 ms), HNSW 0.61 at
//     efSearch 64 (2.8 ms). IVF must also be re-trained as a collection grows: ShouldRebuild.
//   exact_below = 50k: exact search stays near 15 ms there, small beside generation (seconds),
//     and misses nothing; past it approximate search is 20-40x faster, and building it takes
//     seconds.
//   Searches, and adds or compactions of fewer than 8192 vectors, run with one OpenMP thread
//     (see faiss_index.cpp): with two, a busy machine made HNSW searches 9x and Flat 1.3x
//     slower, as OpenMP waited at its barrier for a second thread that had nothing to do.
//
// Removal: Flat frees a removed vector at once. Other kinds tombstone it (HNSW cannot remove,
// and IVF's removal would shift the positions IndexIDMap2 maps): it leaves the results at once
// (searches skip it through a FAISS IDSelector) and its memory is freed by the next Compact() or
// rebuild. Tombstones live in the FAISS file itself (the removed vector's entry in IndexIDMap2's
// id map becomes -1), so Save writes one file, atomically, and Load restores them; a plain FAISS
// reader sees removed vectors as label -1 ("no result").
//
// Thread safety: any number of concurrent Search, size(), kind() and Save calls; Add, Remove,
// SetSearchOptions and the final swap of Compact take an exclusive lock. Compact rebuilds under a
// shared lock, so searches go on meanwhile, but writers wait for it (about a build's time, see
// above; minutes for a large HNSW), so run it when ingestion is idle. FAISS parallelises Build, Add
// and Compact with OpenMP over all cores (small ones excepted); Search uses one thread, so
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
  // HNSW (only through `factory`, which also names M, e.g. "HNSW32_SQ8"): breadth of the
  // candidate list while inserting (efConstruction) and while searching (efSearch; raised to k
  // when k is larger). Applied to any HNSW index this creates.
  int hnsw_ef_construction = 40;
  int hnsw_ef_search = 96;
  // IVF: inverted lists probed per search.
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

// The ids a search may return (the chunks a reader may see). The search skips every other id
// while it runs (a FAISS IDSelector), rather than dropping them from its top k afterwards, so it
// returns k allowed ids whenever the index holds that many, however many better ones it skips.
class IdFilter {
 public:
  explicit IdFilter(std::vector<int64_t> ids);  // any order, repeats allowed
  bool Allows(int64_t id) const;               // O(log size)
  size_t size() const { return ids_.size(); }
  const std::vector<int64_t>& ids() const { return ids_; }  // ascending, distinct

 private:
  std::vector<int64_t> ids_;
};

// Fills `batch` (cleared by the caller) with the next vectors; an empty batch ends the stream.
// An error ends the build and is returned by it.
using VectorBatchSource = std::function<Status(std::vector<IdVector>* batch)>;

// The FAISS factory description the automatic choice gives a collection of `expected_size`
// vectors of `dimension`: options.factory when set, else "Flat" below options.exact_below, else
// "IVF<n>,SQ8" above 128 dimensions and "IVF<n>,Flat" up to 128, n the largest power of two
// that is at most 4 sqrt(expected_size), expected_size / 39 (FAISS's least training vectors
// per list) and 4096.
std::string ChooseFactory(int64_t expected_size, int dimension, const VectorIndexOptions& options);

class VectorIndex {
 public:
  // An empty index of the kind ChooseFactory(0, dimension, options) names ("Flat" by default).
  // kInvalidArgument for a non-positive dimension, an option out of range (an ef or
  // nprobe below 1, exact_below below 0) or a factory string FAISS rejects.
  static Result<std::unique_ptr<VectorIndex>> Create(int dimension,
                                                     const VectorIndexOptions& options);
  // An index of the kind ChooseFactory(all.size(), ...) names, trained if the kind needs it
  // (on the first 131072 vectors, or 64 per IVF list if more) and holding all of them. Later
  // duplicates of an id replace earlier ones. Errors as Create, plus kInvalidArgument for a vector
  // of the wrong length or a negative id (naming it) and kInternal for a FAISS failure.
  static Result<std::unique_ptr<VectorIndex>> Build(int dimension, const std::vector<IdVector>& all,
                                                    const VectorIndexOptions& options);
  // The same, streaming: the kind is chosen for `expected_size`; vectors are held until the
  // training sample is complete (kinds that train), then added 65536 at a time whatever the
  // source's batch size, so memory stays at the index plus up to 262144 vectors. An error from
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
  Result<std::vector<VectorHit>> Search(const std::vector<float>& query, int k) const {
    return Search(query, k, nullptr);
  }
  // The same among the ids `filter` allows (every id when null): up to k of them, best first.
  // Approximate kinds widen their search (efSearch, nprobe) in proportion to the share of
  // vectors allowed, as for tombstones, and HNSW scans its vectors exactly when the graph does
  // not reach k allowed ones.
  virtual Result<std::vector<VectorHit>> Search(const std::vector<float>& query, int k,
                                                const IdFilter* filter) const = 0;
  // Rebuilds the same kind without the tombstoned vectors, freeing their memory; a no-op without
  // tombstones. Vectors come from the index itself and keep its training (IVF centroids, SQ8
  // ranges), so nothing changes but the memory: no k-means, no further quantization loss.
  // kFailedPrecondition for a kind factory() cannot describe; kInternal for a FAISS failure
  // (the index is unchanged then).
  virtual Status Compact() = 0;
  // Applies options.hnsw_ef_search (HNSW) or options.ivf_nprobe (IVF) to the index as it is,
  // e.g. after Load; kept by the next Save. Other options need a rebuild. kInvalidArgument when
  // either is below 1.
  virtual Status SetSearchOptions(const VectorIndexOptions& options) = 0;
  // Written to a temporary file beside `path`, then renamed over it; tombstones included.
  virtual Status Save(const std::filesystem::path& path) const = 0;
};

// True when `index` should be rebuilt (with Build, from the stored embeddings) because the
// automatic choice for its current size differs enough: it grew to exact_below or beyond while
// exact; it shrank below exact_below / 2 while approximate (the gap keeps a collection near the
// threshold from flipping); or it is IVF and its size now calls for twice its lists or more
// (about fourfold growth: lists grown long slow every search). Always false with a `factory`
// override.
bool ShouldRebuild(const VectorIndex& index, const VectorIndexOptions& options);

}  // namespace cloister::index
