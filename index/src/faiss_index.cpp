#include "faiss_index.h"

#include <fcntl.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <optional>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "cloister/core/failpoint.h"

namespace cloister::index {
namespace fs = std::filesystem;
namespace {

constexpr size_t kCompactBatch = 65536;
constexpr size_t kTrainingSample = 131072;
constexpr size_t kTrainingPerList = 64;  // IVF: k-means over 64 vectors per list at least

// Keeps a position of the inner index when its vector is live: its id-map entry is not -1.
class LiveSelector final : public faiss::IDSelector {
 public:
  explicit LiveSelector(const std::vector<Idx>& id_map) : id_map_(id_map) {}
  bool is_member(Idx position) const override {
    return id_map_[static_cast<size_t>(position)] >= 0;
  }

 private:
  const std::vector<Idx>& id_map_;
};

// Keeps a position whose vector is live and whose chunk id the reader's filter allows.
class AllowedSelector final : public faiss::IDSelector {
 public:
  AllowedSelector(const std::vector<Idx>& id_map, const IdFilter& filter)
      : id_map_(id_map), filter_(filter) {}
  bool is_member(Idx position) const override {
    Idx id = id_map_[static_cast<size_t>(position)];
    return id >= 0 && filter_.Allows(id);
  }

 private:
  const std::vector<Idx>& id_map_;
  const IdFilter& filter_;
};

// FAISS 1.7.3's IndexIDMap rejects SearchParameters, so searches with a selector go to the inner
// index, whose search parameters must be of its own kind (or they reset efSearch / nprobe).
// `widen` multiplies the breadth (efSearch at least k, or nprobe) up to the whole index.
std::unique_ptr<faiss::SearchParameters> ParamsFor(const faiss::Index& inner,
                                                   faiss::IDSelector* sel, Idx k, double widen) {
  auto wider = [widen](double breadth, double most) {
    return static_cast<int>(std::min(most, std::ceil(breadth * widen)));
  };
  std::unique_ptr<faiss::SearchParameters> params;
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(&inner)) {
    auto p = std::make_unique<faiss::SearchParametersHNSW>();
    p->efSearch = wider(std::max<double>(hnsw->hnsw.efSearch, static_cast<double>(k)),
                        static_cast<double>(inner.ntotal));
    params = std::move(p);
  } else if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&inner)) {
    auto p = std::make_unique<faiss::SearchParametersIVF>();
    p->nprobe = static_cast<size_t>(
        wider(static_cast<double>(ivf->nprobe), static_cast<double>(ivf->nlist)));
    params = std::move(p);
  } else {
    params = std::make_unique<faiss::SearchParameters>();
  }
  params->sel = sel;
  return params;
}

// Hits in FAISS's order, translated to chunk ids; FAISS pads missing hits with -1.
std::vector<VectorHit> CollectHits(const std::vector<Idx>& id_map,
                                   const std::vector<Idx>& positions,
                                   const std::vector<float>& scores) {
  std::vector<VectorHit> hits;
  hits.reserve(positions.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    if (positions[i] < 0) continue;
    Idx id = id_map[static_cast<size_t>(positions[i])];
    if (id >= 0) hits.push_back({id, scores[i]});
  }
  return hits;
}

// The search parameters an index carries, so a rebuild of the same kind keeps them.
VectorIndexOptions OptionsOf(const faiss::Index& inner) {
  VectorIndexOptions options;
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(&inner)) {
    options.hnsw_ef_construction = hnsw->hnsw.efConstruction;
    options.hnsw_ef_search = hnsw->hnsw.efSearch;
  } else if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&inner)) {
    options.ivf_nprobe = static_cast<int>(ivf->nprobe);
  }
  return options;
}

// Reads stored vectors back by position. IVF keeps no position -> list map unless asked to, so
// one is built here (8 bytes per vector) instead of changing the index under its readers.
class Reconstructor {
 public:
  explicit Reconstructor(const faiss::Index& inner) : inner_(inner) {
    ivf_ = dynamic_cast<const faiss::IndexIVF*>(&inner);
    if (!ivf_) return;
    where_.assign(static_cast<size_t>(inner.ntotal), {-1, -1});
    for (size_t list = 0; list < ivf_->nlist; ++list) {
      faiss::InvertedLists::ScopedIds ids(ivf_->invlists, list);
      size_t n = ivf_->invlists->list_size(list);
      for (size_t offset = 0; offset < n; ++offset) {
        where_[static_cast<size_t>(ids[offset])] = {static_cast<int32_t>(list),
                                                    static_cast<int32_t>(offset)};
      }
    }
  }
  void Get(Idx position, float* out) const {
    if (!ivf_) return inner_.reconstruct(position, out);
    auto [list, offset] = where_[static_cast<size_t>(position)];
    ivf_->reconstruct_from_offset(list, offset, out);
  }

 private:
  const faiss::Index& inner_;
  const faiss::IndexIVF* ivf_ = nullptr;
  std::vector<std::pair<int32_t, int32_t>> where_;
};

// One query is searched by one thread whatever OpenMP offers (FAISS 1.7.3 splits work across
// queries), yet the parallel region still starts a team and waits at its barrier for threads
// that, on a busy machine, are not scheduled: measured on the 2-core machine while compilers
// ran, 20k 384-d vectors, HNSW32 13.0 ms per search with 2 threads against 1.4 ms with 1 (Flat
// 8.7 against 6.5). Small adds and compactions (a document's chunks) suffer the same for no
// gain: this module's tests took 12-24 s under load against 3 s with OMP_WAIT_POLICY=passive.
// So those run with one OpenMP thread; the setting is the calling thread's own and is restored.
class SingleThreadedOpenMp {
 public:
  explicit SingleThreadedOpenMp(bool active = true) : active_(active) {
    if (!active_) return;
    saved_ = omp_get_max_threads();
    omp_set_num_threads(1);
  }
  ~SingleThreadedOpenMp() {
    if (active_) omp_set_num_threads(saved_);
  }
  SingleThreadedOpenMp(const SingleThreadedOpenMp&) = delete;
  SingleThreadedOpenMp& operator=(const SingleThreadedOpenMp&) = delete;

 private:
  bool active_;
  int saved_ = 1;
};

// Below this many vectors an add, training or compaction runs on one thread (see above).
constexpr size_t kParallelMinimum = 8192;

// Gives `to`, an empty index of the same description, the training of `from` (IVF centroids,
// SQ8 ranges), so a compaction neither repeats k-means nor moves the quantizer. False when the
// kinds do not allow it; `to` is then trained afresh.
bool CopyTraining(const faiss::Index& from, faiss::Index* to) {
  const faiss::ScalarQuantizer* sq_from = nullptr;
  faiss::ScalarQuantizer* sq_to = nullptr;
  if (auto* a = dynamic_cast<const faiss::IndexIVF*>(&from)) {
    auto* b = dynamic_cast<faiss::IndexIVF*>(to);
    auto* qa = dynamic_cast<const faiss::IndexFlat*>(a->quantizer);
    auto* qb = b ? dynamic_cast<faiss::IndexFlat*>(b->quantizer) : nullptr;
    if (!qa || !qb || a->nlist != b->nlist) return false;
    qb->reset();
    qb->add(qa->ntotal, qa->get_xb());
    auto* sa = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(a);
    auto* sb = dynamic_cast<faiss::IndexIVFScalarQuantizer*>(b);
    if (sa && sb) {
      sq_from = &sa->sq;
      sq_to = &sb->sq;
    }
  } else if (auto* a = dynamic_cast<const faiss::IndexHNSW*>(&from)) {
    auto* b = dynamic_cast<faiss::IndexHNSW*>(to);
    auto* sa = dynamic_cast<const faiss::IndexScalarQuantizer*>(a->storage);
    auto* sb = b ? dynamic_cast<faiss::IndexScalarQuantizer*>(b->storage) : nullptr;
    if (!sa || !sb) return false;
    sq_from = &sa->sq;
    sq_to = &sb->sq;
    sb->is_trained = true;
  } else {
    return false;
  }
  if (sq_from) *sq_to = *sq_from;
  to->is_trained = true;
  return true;
}

std::string FaissError(const char* what, const std::exception& e) {
  return std::string("FAISS ") + what + " failed: " + e.what();
}

}  // namespace

std::string DescribeFactory(const faiss::Index& inner) {
  auto sq8 = [](const faiss::ScalarQuantizer& sq) {
    return sq.qtype == faiss::ScalarQuantizer::QT_8bit;
  };
  if (dynamic_cast<const faiss::IndexFlat*>(&inner)) return "Flat";
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(&inner)) {
    std::string base = "HNSW" + std::to_string(hnsw->hnsw.nb_neighbors(1));
    if (dynamic_cast<const faiss::IndexFlat*>(hnsw->storage)) return base;
    auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(hnsw->storage);
    return sq && sq8(sq->sq) ? base + "_SQ8" : "";
  }
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&inner)) {
    if (!dynamic_cast<const faiss::IndexFlat*>(ivf->quantizer)) return "";
    std::string base = "IVF" + std::to_string(ivf->nlist);
    if (dynamic_cast<const faiss::IndexIVFFlat*>(ivf)) return base + ",Flat";
    auto* sq = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(ivf);
    return sq && sq8(sq->sq) && sq->by_residual ? base + ",SQ8" : "";
  }
  return "";
}

void ApplyOptions(faiss::Index* inner, const VectorIndexOptions& options) {
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(inner)) {
    hnsw->hnsw.efConstruction = options.hnsw_ef_construction;
    hnsw->hnsw.efSearch = options.hnsw_ef_search;
  } else if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(inner)) {
    ivf->nprobe = static_cast<size_t>(options.ivf_nprobe);
  }
}

Result<std::unique_ptr<faiss::IndexIDMap2>> NewFaissIndex(int dimension, const std::string& factory,
                                                          const VectorIndexOptions& options) {
  std::unique_ptr<faiss::Index> inner;
  try {
    inner.reset(faiss::index_factory(dimension, factory.c_str(), faiss::METRIC_INNER_PRODUCT));
  } catch (const std::exception& e) {
    return InvalidArgument("FAISS rejects index description '" + factory + "': " + e.what());
  }
  if (dynamic_cast<faiss::IndexIDMap*>(inner.get())) {
    return InvalidArgument("index description '" + factory +
                           "' must not contain IDMap: chunk ids are mapped already");
  }
  ApplyOptions(inner.get(), options);
  auto map = std::make_unique<faiss::IndexIDMap2>(inner.release());
  map->own_fields = true;
  return map;
}

FaissIndex::FaissIndex(std::unique_ptr<faiss::IndexIDMap2> index, std::string factory)
    : dimension_(static_cast<int>(index->d)), factory_(std::move(factory)) {
  AdoptIndex(std::move(index));
}

void FaissIndex::AdoptIndex(std::unique_ptr<faiss::IndexIDMap2> index) {
  index_ = std::move(index);
  tombstones_ = std::count(index_->id_map.begin(), index_->id_map.end(), Idx{-1});
  index_->rev_map.erase(-1);  // construct_rev_map() on load maps the tombstone marker too
}

int64_t FaissIndex::size() const {
  std::shared_lock lock(mu_);
  return index_->ntotal - tombstones_;
}

int64_t FaissIndex::tombstones() const {
  std::shared_lock lock(mu_);
  return tombstones_;
}

std::string FaissIndex::kind() const {
  return "IDMap2," + (factory_.empty() ? std::string("other") : factory_) + " (inner product)";
}

bool FaissIndex::NeedsTraining() const {
  std::shared_lock lock(mu_);
  return !index_->is_trained;
}

size_t FaissIndex::TrainingSample() const {
  std::shared_lock lock(mu_);
  auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_->index);
  return std::max(kTrainingSample, ivf ? kTrainingPerList * ivf->nlist : 0);
}

bool FaissIndex::RemovesInPlace() const {
  return dynamic_cast<const faiss::IndexFlat*>(index_->index) != nullptr;
}

void FaissIndex::TombstoneLocked(Idx id) {
  auto it = index_->rev_map.find(id);
  if (it == index_->rev_map.end()) return;
  index_->id_map[static_cast<size_t>(it->second)] = -1;
  index_->rev_map.erase(it);
  ++tombstones_;
}

Status FaissIndex::Add(const std::vector<IdVector>& items) {
  // Later duplicates win, as if added one after the other.
  std::vector<const IdVector*> kept;
  std::unordered_set<int64_t> seen;
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (it->id < 0) return InvalidArgument("chunk id " + std::to_string(it->id) + " is negative");
    if (static_cast<int64_t>(it->vector.size()) != dimension_) {
      return InvalidArgument("vector for chunk " + std::to_string(it->id) + " has " +
                             std::to_string(it->vector.size()) + " dimensions, index has " +
                             std::to_string(dimension_));
    }
    if (seen.insert(it->id).second) kept.push_back(&*it);
  }
  std::reverse(kept.begin(), kept.end());
  std::vector<float> flat;
  std::vector<Idx> ids;
  flat.reserve(kept.size() * static_cast<size_t>(dimension_));
  for (const IdVector* item : kept) {
    flat.insert(flat.end(), item->vector.begin(), item->vector.end());
    ids.push_back(item->id);
  }
  std::lock_guard write(write_mu_);
  std::unique_lock lock(mu_);
  return AddLocked(ids, flat);
}

Status FaissIndex::AddLocked(const std::vector<Idx>& ids, const std::vector<float>& flat) {
  if (ids.empty()) return Status::Ok();
  auto n = static_cast<Idx>(ids.size());
  SingleThreadedOpenMp small(ids.size() < kParallelMinimum);
  if (!index_->is_trained) {
    try {
      index_->train(n, flat.data());
    } catch (const std::exception& e) {
      return FailedPrecondition("cannot train a " + factory_ + " index on " + std::to_string(n) +
                                " vectors (" + e.what() +
                                "); build it with VectorIndex::Build from the whole collection");
    }
  }
  try {
    if (RemovesInPlace()) {
      // remove_ids scans the whole index, so only when something is replaced.
      std::vector<Idx> existing;
      for (Idx id : ids) {
        if (index_->rev_map.count(id)) existing.push_back(id);
      }
      faiss::IDSelectorBatch sel(existing.size(), existing.data());
      if (!existing.empty()) index_->remove_ids(sel);
    } else {
      for (Idx id : ids) TombstoneLocked(id);
    }
    index_->add_with_ids(n, flat.data(), ids.data());
  } catch (const std::exception& e) {
    return Internal(FaissError("add", e));
  }
  return Status::Ok();
}

int64_t FaissIndex::Remove(const std::vector<int64_t>& ids) {
  if (ids.empty()) return 0;
  std::lock_guard write(write_mu_);
  std::unique_lock lock(mu_);
  if (!RemovesInPlace()) {
    int64_t before = tombstones_;
    for (int64_t id : ids) TombstoneLocked(id);
    return tombstones_ - before;
  }
  std::vector<Idx> v(ids.begin(), ids.end());
  try {
    faiss::IDSelectorBatch sel(v.size(), v.data());
    return static_cast<int64_t>(index_->remove_ids(sel));
  } catch (const std::exception&) {
    // remove_ids on a flat index only fails when out of memory for its selector; nothing was
    // removed then, and the caller's next Remove or a rebuild tries again.
    return 0;
  }
}

IdFilter::IdFilter(std::vector<int64_t> ids) : ids_(std::move(ids)) {
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
}

bool IdFilter::Allows(int64_t id) const { return std::binary_search(ids_.begin(), ids_.end(), id); }

Result<std::vector<VectorHit>> FaissIndex::Search(const std::vector<float>& query, int k,
                                                  const IdFilter* filter) const {
  if (static_cast<int64_t>(query.size()) != dimension_) {
    return InvalidArgument("query vector has " + std::to_string(query.size()) +
                           " dimensions, index has " + std::to_string(dimension_));
  }
  std::shared_lock lock(mu_);
  int64_t allowed = index_->ntotal - tombstones_;
  if (filter) {
    allowed = 0;  // live vectors the filter allows: rev_map holds live ids only
    for (int64_t id : filter->ids()) allowed += index_->rev_map.count(id) ? 1 : 0;
  }
  int64_t n = std::min<int64_t>(k, allowed);
  if (n <= 0) return std::vector<VectorHit>{};
  try {
    SingleThreadedOpenMp one_thread;
    return SearchLocked(query.data(), n, filter, allowed);
  } catch (const std::exception& e) {
    return Internal(FaissError("search", e));
  }
}

std::vector<VectorHit> FaissIndex::SearchLocked(const float* query, Idx n, const IdFilter* filter,
                                                int64_t allowed) const {
  std::vector<float> scores(static_cast<size_t>(n));
  std::vector<Idx> positions(static_cast<size_t>(n));
  const faiss::Index& inner = *index_->index;
  if (tombstones_ == 0 && !filter) {
    inner.search(1, query, n, scores.data(), positions.data());
    return CollectHits(index_->id_map, positions, scores);
  }
  // Tombstones and vectors the filter skips still take room in HNSW's candidate list and IVF's
  // probed lists, so a filtered search looks wider in proportion, and wider again while it finds
  // fewer hits than the index has to give.
  LiveSelector live(index_->id_map);
  std::optional<AllowedSelector> permitted;
  if (filter) permitted.emplace(index_->id_map, *filter);
  faiss::IDSelector* selector = filter ? static_cast<faiss::IDSelector*>(&*permitted) : &live;
  double widen = static_cast<double>(index_->ntotal) / static_cast<double>(std::max<int64_t>(allowed, 1));
  std::vector<VectorHit> hits;
  for (int attempt = 0; attempt < 3 && static_cast<Idx>(hits.size()) < n; ++attempt) {
    auto params = ParamsFor(inner, selector, n, widen * (1 << attempt));
    inner.search(1, query, n, scores.data(), positions.data(), params.get());
    hits = CollectHits(index_->id_map, positions, scores);
  }
  // With most of a graph tombstoned or filtered out, HNSW (1.7.3) cannot reach every vector
  // wanted: scan its storage, exactly (until Compact() repairs it, for tombstones).
  auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(&inner);
  if (hnsw && static_cast<Idx>(hits.size()) < n) {
    faiss::SearchParameters params;
    params.sel = selector;
    hnsw->storage->search(1, query, n, scores.data(), positions.data(), &params);
    hits = CollectHits(index_->id_map, positions, scores);
  }
  return hits;
}

Result<std::unique_ptr<faiss::IndexIDMap2>> FaissIndex::RebuildLive() const {
  const faiss::Index& inner = *index_->index;
  auto fresh = NewFaissIndex(dimension_, factory_, OptionsOf(inner));
  if (!fresh.ok()) return fresh.status();
  std::vector<Idx> live;
  live.reserve(static_cast<size_t>(index_->ntotal - tombstones_));
  for (size_t i = 0; i < index_->id_map.size(); ++i) {
    if (index_->id_map[i] >= 0) live.push_back(static_cast<Idx>(i));
  }
  auto d = static_cast<size_t>(dimension_);
  try {
    SingleThreadedOpenMp small(live.size() < kParallelMinimum);
    Reconstructor read(inner);
    std::vector<float> buffer;
    if (!(*fresh)->is_trained && CopyTraining(inner, (*fresh)->index)) (*fresh)->is_trained = true;
    if (!(*fresh)->is_trained && !live.empty()) {  // on an even spread of the live vectors
      size_t step = std::max<size_t>(1, live.size() / kTrainingSample);
      for (size_t i = 0; i < live.size(); i += step) {
        buffer.resize(buffer.size() + d);
        read.Get(live[i], buffer.data() + buffer.size() - d);
      }
      (*fresh)->train(static_cast<Idx>(buffer.size() / d), buffer.data());
    }
    std::vector<Idx> ids;
    for (size_t start = 0; start < live.size(); start += kCompactBatch) {
      size_t end = std::min(live.size(), start + kCompactBatch);
      buffer.resize((end - start) * d);
      ids.clear();
      for (size_t i = start; i < end; ++i) {
        read.Get(live[i], buffer.data() + (i - start) * d);
        ids.push_back(index_->id_map[static_cast<size_t>(live[i])]);
      }
      (*fresh)->add_with_ids(static_cast<Idx>(ids.size()), buffer.data(), ids.data());
    }
  } catch (const std::exception& e) {
    return Internal(FaissError("compaction", e));
  }
  return fresh;
}

Status FaissIndex::Compact() {
  std::lock_guard write(write_mu_);
  std::unique_ptr<faiss::IndexIDMap2> fresh;
  {
    std::shared_lock read(mu_);
    if (tombstones_ == 0) return Status::Ok();
    if (factory_.empty()) {
      return FailedPrecondition(
          "cannot compact a vector index of an undescribed kind; "
          "rebuild it with VectorIndex::Build from the stored embeddings");
    }
    auto rebuilt = RebuildLive();
    if (!rebuilt.ok()) return rebuilt.status();
    fresh = std::move(rebuilt).value();
  }
  std::unique_ptr<faiss::IndexIDMap2> old;
  {
    std::unique_lock lock(mu_);
    old = std::move(index_);
    AdoptIndex(std::move(fresh));
  }
  return Status::Ok();  // `old` is freed here, outside the lock
}

Status FaissIndex::SetSearchOptions(const VectorIndexOptions& options) {
  if (options.hnsw_ef_search < 1 || options.ivf_nprobe < 1) {
    return InvalidArgument("index options hnsw_ef_search and ivf_nprobe must be at least 1");
  }
  std::lock_guard write(write_mu_);
  std::unique_lock lock(mu_);
  VectorIndexOptions kept = OptionsOf(*index_->index);  // efConstruction stays as built
  kept.hnsw_ef_search = options.hnsw_ef_search;
  kept.ivf_nprobe = options.ivf_nprobe;
  ApplyOptions(index_->index, kept);
  return Status::Ok();
}

Status FaissIndex::Save(const fs::path& path) const {
  static std::atomic<uint64_t> saves{0};  // two saves at once must not share a temporary file
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(saves++);
  try {
    std::shared_lock lock(mu_);
    faiss::write_index(index_.get(), tmp.c_str());
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return Internal("cannot write vector index " + tmp.string() + ": " + e.what());
  }
  // On disk before it replaces the old file, and the rename itself on disk after: a power cut
  // leaves the old index or the new one, never a name pointing at unwritten blocks.
  if (int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  Failpoint("index_before_rename");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Internal("cannot rename vector index onto " + path.string() + ": " + ec.message());
  if (int dir = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::Ok();
}

}  // namespace cloister::index
