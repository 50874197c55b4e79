#include "cloister/index/vector_index.h"

#include <faiss/IndexIDMap.h>
#include <faiss/index_io.h>

#include <cmath>
#include <cstdlib>
#include <exception>
#include <system_error>

#include "faiss_index.h"

namespace cloister::index {
namespace fs = std::filesystem;
namespace {

constexpr size_t kBuildBatch = 65536;
// Above this many dimensions float storage would pass 1 GiB (1074 B per vector) per million
// vectors; SQ8 keeps one byte per dimension (measured overheads in the header).
constexpr int kFloatStorageMaxDimension = 128;
// FAISS's k-means wants at least 39 training vectors per list; more lists than this make the
// training (k-means over 64 vectors per list) cost minutes on two cores.
constexpr int64_t kMinVectorsPerList = 39;
constexpr int64_t kMaxLists = 4096;

// About 4 sqrt(n) lists (FAISS's guideline is 4 to 16 sqrt(n)), rounded down to a power of two,
// so a collection has to grow fourfold before the choice moves up one step.
int64_t IvfLists(int64_t n) {
  int64_t lists = 1;
  while (lists * 2 <= kMaxLists && lists * 2 * kMinVectorsPerList <= n &&
         static_cast<double>(lists * 2) <= 4 * std::sqrt(static_cast<double>(n))) {
    lists *= 2;
  }
  return lists;
}

// The list count of an "IVF<n>,..." description, 0 for other kinds.
int64_t ListsOf(const std::string& factory) {
  if (factory.rfind("IVF", 0) != 0) return 0;
  return std::atoll(factory.c_str() + 3);
}

Status ValidateOptions(int dimension, const VectorIndexOptions& o) {
  if (dimension <= 0) return InvalidArgument("vector dimension must be positive");
  if (o.exact_below < 0) return InvalidArgument("index option exact_below must not be negative");
  if (o.hnsw_ef_construction < 1 || o.hnsw_ef_search < 1) {
    return InvalidArgument("index options hnsw_ef_construction and hnsw_ef_search must be >= 1");
  }
  if (o.ivf_nprobe < 1) return InvalidArgument("index option ivf_nprobe must be at least 1");
  return Status::Ok();
}

Result<std::unique_ptr<FaissIndex>> NewIndex(int dimension, int64_t expected_size,
                                             const VectorIndexOptions& options) {
  CLOISTER_RETURN_IF_ERROR(ValidateOptions(dimension, options));
  std::string factory = ChooseFactory(expected_size, dimension, options);
  CLOISTER_ASSIGN_OR_RETURN(auto map, NewFaissIndex(dimension, factory, options));
  std::string described = DescribeFactory(*map->index);
  // An override FAISS accepts but we cannot describe keeps its own spelling until saved.
  return std::make_unique<FaissIndex>(std::move(map), described.empty() ? factory : described);
}

bool IsExact(const std::string& factory) { return factory == "Flat"; }

}  // namespace

std::string ChooseFactory(int64_t expected_size, int dimension, const VectorIndexOptions& options) {
  if (!options.factory.empty()) return options.factory;
  if (expected_size < options.exact_below) return "Flat";
  std::string ivf = "IVF" + std::to_string(IvfLists(expected_size));
  return ivf + (dimension > kFloatStorageMaxDimension ? ",SQ8" : ",Flat");
}

bool ShouldRebuild(const VectorIndex& index, const VectorIndexOptions& options) {
  if (!options.factory.empty()) return false;
  int64_t size = index.size();
  if (IsExact(index.factory())) return size >= options.exact_below;
  if (size < options.exact_below / 2) return true;
  int64_t lists = ListsOf(index.factory());
  return lists > 0 && IvfLists(size) >= 2 * lists;
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(int dimension,
                                                         const VectorIndexOptions& options) {
  CLOISTER_ASSIGN_OR_RETURN(auto index, NewIndex(dimension, 0, options));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Build(int dimension,
                                                        const std::vector<IdVector>& all,
                                                        const VectorIndexOptions& options) {
  size_t next = 0;
  auto slices = [&](std::vector<IdVector>* batch) {
    size_t end = std::min(all.size(), next + kBuildBatch);
    batch->assign(all.begin() + static_cast<std::ptrdiff_t>(next),
                  all.begin() + static_cast<std::ptrdiff_t>(end));
    next = end;
    return Status::Ok();
  };
  return Build(dimension, static_cast<int64_t>(all.size()), slices, options);
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Build(int dimension, int64_t expected_size,
                                                        const VectorBatchSource& next,
                                                        const VectorIndexOptions& options) {
  CLOISTER_ASSIGN_OR_RETURN(auto index, NewIndex(dimension, expected_size, options));
  // Vectors are held back until a full sample for training (untrained kinds: Add trains on its
  // first batch) or a batch big enough to add on all cores, whatever the source's batch size.
  std::vector<IdVector> held;
  std::vector<IdVector> batch;
  while (true) {
    batch.clear();
    CLOISTER_RETURN_IF_ERROR(next(&batch));
    if (batch.empty()) break;
    for (auto& item : batch) held.push_back(std::move(item));
    if (held.size() >= (index->NeedsTraining() ? index->TrainingSample() : kBuildBatch)) {
      CLOISTER_RETURN_IF_ERROR(index->Add(held));
      held.clear();
    }
  }
  if (!held.empty()) CLOISTER_RETURN_IF_ERROR(index->Add(held));
  return std::unique_ptr<VectorIndex>(std::move(index));
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Load(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFound("no vector index at " + path.string());
  std::unique_ptr<faiss::Index> raw;
  try {
    raw.reset(faiss::read_index(path.c_str()));
  } catch (const std::exception& e) {
    return DataLoss("cannot read vector index " + path.string() + " (" + e.what() +
                    "); it will be rebuilt from the stored embeddings");
  }
  auto* map = dynamic_cast<faiss::IndexIDMap2*>(raw.get());
  if (!map) return DataLoss(path.string() + " is a FAISS index without chunk ids; rebuild it");
  raw.release();
  std::unique_ptr<faiss::IndexIDMap2> owned(map);
  std::string factory = DescribeFactory(*owned->index);
  return std::unique_ptr<VectorIndex>(std::make_unique<FaissIndex>(std::move(owned), factory));
}

}  // namespace cloister::index
