// Private: the one VectorIndex implementation, an IndexIDMap2 around a FAISS index.
#pragma once

#include <faiss/IndexIDMap.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cloister/index/vector_index.h"

namespace cloister::index {

using Idx = faiss::Index::idx_t;  // FAISS 1.7 (Debian 12) keeps idx_t inside Index

// The index_factory description of `inner` ("Flat", "HNSW32_SQ8", "IVF1024,SQ8", ...), or ""
// when it is of a kind we do not describe.
std::string DescribeFactory(const faiss::Index& inner);

// Sets efSearch and efConstruction (HNSW) or nprobe (IVF) from `options`.
void ApplyOptions(faiss::Index* inner, const VectorIndexOptions& options);

// A new, empty IndexIDMap2 around index_factory(dimension, factory), with the HNSW / IVF
// parameters of `options` applied. kInvalidArgument when FAISS rejects the description.
Result<std::unique_ptr<faiss::IndexIDMap2>> NewFaissIndex(int dimension, const std::string& factory,
                                                          const VectorIndexOptions& options);

class FaissIndex final : public VectorIndex {
 public:
  // Takes an IndexIDMap2 whose id map may hold -1 for tombstones (as saved).
  explicit FaissIndex(std::unique_ptr<faiss::IndexIDMap2> index, std::string factory);

  int dimension() const override { return dimension_; }
  int64_t size() const override;
  int64_t tombstones() const override;
  std::string factory() const override { return factory_; }
  std::string kind() const override;

  Status Add(const std::vector<IdVector>& items) override;
  int64_t Remove(const std::vector<int64_t>& ids) override;
  using VectorIndex::Search;
  Result<std::vector<VectorHit>> Search(const std::vector<float>& query, int k,
                                        const IdFilter* filter) const override;
  Status Compact() override;
  Status SetSearchOptions(const VectorIndexOptions& options) override;
  Status Save(const std::filesystem::path& path) const override;

  // True while the inner index still needs training (Build holds vectors back until then), and
  // how many vectors to train it on.
  bool NeedsTraining() const;
  size_t TrainingSample() const;

 private:
  void AdoptIndex(std::unique_ptr<faiss::IndexIDMap2> index);
  bool RemovesInPlace() const;  // Flat: FAISS remove_ids; every other kind: tombstones
  void TombstoneLocked(Idx id);
  Status AddLocked(const std::vector<Idx>& ids, const std::vector<float>& flat);
  // Throws FAISS errors. `filter` may be null; `allowed` is how many live vectors it allows.
  std::vector<VectorHit> SearchLocked(const float* query, Idx n, const IdFilter* filter,
                                      int64_t allowed) const;
  Result<std::unique_ptr<faiss::IndexIDMap2>> RebuildLive() const;

  const int dimension_;
  const std::string factory_;
  // Writers (Add, Remove, Compact) take write_mu_ first, then mu_ exclusively for the change;
  // readers take mu_ shared. Compact rebuilds holding write_mu_ and mu_ shared.
  std::mutex write_mu_;
  mutable std::shared_mutex mu_;
  std::unique_ptr<faiss::IndexIDMap2> index_;
  int64_t tombstones_ = 0;
};

}  // namespace cloister::index
