#include "cloister/index/vector_index.h"

#include <faiss/IndexIDMap.h>
#include <faiss/index_io.h>

#include <exception>
#include <system_error>

#include "faiss_index.h"

namespace cloister::index {
namespace fs = std::filesystem;
namespace {

// Build holds back this many vectors to train on (SQ8 ranges, IVF centroids); FAISS samples
// IVF training further itself.
constexpr size_t kTrainingSample = 131072;
constexpr size_t kBuildBatch = 65536;
// Above this many dimensions float storage would pass 1 GiB (1074 B per vector) per million
// vectors: 4 B per dimension + ~336 B of HNSW32 links, ids and id map (measured: 687 MiB per
// million for HNSW32_SQ8 at 384-d, 384 B of which are codes). So SQ8 beyond it.
constexpr int kFloatStorageMaxDimension = 128;

Status ValidateOptions(int dimension, const VectorIndexOptions& o) {
  if (dimension <= 0) return InvalidArgument("vector dimension must be positive");
  if (o.exact_below < 0) return InvalidArgument("index option exact_below must not be negative");
  if (o.hnsw_m < 2) return InvalidArgument("index option hnsw_m must be at least 2");
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
  std::string hnsw = "HNSW" + std::to_string(options.hnsw_m);
  return dimension > kFloatStorageMaxDimension ? hnsw + "_SQ8" : hnsw;
}

bool ShouldRebuild(const VectorIndex& index, const VectorIndexOptions& options) {
  if (!options.factory.empty()) return false;
  int64_t size = index.size();
  bool exact = IsExact(index.factory());
  if (exact) return size >= options.exact_below;
  return size < options.exact_below / 2;
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
    if (held.size() >= (index->NeedsTraining() ? kTrainingSample : kBuildBatch)) {
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
