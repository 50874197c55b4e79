#include "cloister/index/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <unistd.h>

#include <shared_mutex>
#include <system_error>

namespace cloister::index {
namespace fs = std::filesystem;
namespace {

using Idx = faiss::Index::idx_t;  // FAISS 1.7 (Debian 12) keeps idx_t inside Index

class FaissIndex final : public VectorIndex {
 public:
  explicit FaissIndex(std::unique_ptr<faiss::IndexIDMap2> index) : index_(std::move(index)) {}

  int dimension() const override { return static_cast<int>(index_->d); }
  int64_t size() const override {
    std::shared_lock lock(mu_);
    return index_->ntotal;
  }
  std::string kind() const override { return "IDMap2," + inner_kind_ + " (inner product)"; }
  void set_inner_kind(std::string kind) { inner_kind_ = std::move(kind); }

  Status Add(const std::vector<IdVector>& items) override {
    std::vector<float> flat;
    std::vector<Idx> ids;
    flat.reserve(items.size() * static_cast<size_t>(index_->d));
    for (const auto& item : items) {
      if (static_cast<int64_t>(item.vector.size()) != index_->d) {
        return InvalidArgument("vector for chunk " + std::to_string(item.id) + " has " +
                               std::to_string(item.vector.size()) + " dimensions, index has " +
                               std::to_string(index_->d));
      }
      flat.insert(flat.end(), item.vector.begin(), item.vector.end());
      ids.push_back(item.id);
    }
    std::unique_lock lock(mu_);
    try {
      faiss::IDSelectorBatch existing(ids.size(), ids.data());
      index_->remove_ids(existing);
      if (!ids.empty()) index_->add_with_ids(static_cast<Idx>(ids.size()), flat.data(), ids.data());
    } catch (const faiss::FaissException& e) {
      return Internal(std::string("FAISS add failed: ") + e.what());
    }
    return Status::Ok();
  }

  int64_t Remove(const std::vector<int64_t>& ids) override {
    if (ids.empty()) return 0;
    std::vector<Idx> v(ids.begin(), ids.end());
    faiss::IDSelectorBatch sel(v.size(), v.data());
    std::unique_lock lock(mu_);
    return static_cast<int64_t>(index_->remove_ids(sel));
  }

  Result<std::vector<VectorHit>> Search(const std::vector<float>& query, int k) const override {
    if (static_cast<int64_t>(query.size()) != index_->d) {
      return InvalidArgument("query vector has " + std::to_string(query.size()) +
                             " dimensions, index has " + std::to_string(index_->d));
    }
    std::shared_lock lock(mu_);
    int64_t n = std::min<int64_t>(k, index_->ntotal);
    if (n <= 0) return std::vector<VectorHit>{};
    std::vector<float> scores(static_cast<size_t>(n));
    std::vector<Idx> labels(static_cast<size_t>(n));
    try {
      index_->search(1, query.data(), n, scores.data(), labels.data());
    } catch (const faiss::FaissException& e) {
      return Internal(std::string("FAISS search failed: ") + e.what());
    }
    std::vector<VectorHit> hits;
    for (int64_t i = 0; i < n; ++i) {
      if (labels[static_cast<size_t>(i)] >= 0) hits.push_back({labels[static_cast<size_t>(i)], scores[static_cast<size_t>(i)]});
    }
    return hits;
  }

  Status Save(const fs::path& path) const override {
    fs::path tmp = path;
    tmp += ".tmp." + std::to_string(::getpid());
    try {
      std::shared_lock lock(mu_);
      faiss::write_index(index_.get(), tmp.c_str());
    } catch (const faiss::FaissException& e) {
      return Internal("cannot write vector index " + tmp.string() + ": " + e.what());
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) return Internal("cannot rename vector index onto " + path.string() + ": " + ec.message());
    return Status::Ok();
  }

 private:
  std::unique_ptr<faiss::IndexIDMap2> index_;
  std::string inner_kind_ = "Flat";
  mutable std::shared_mutex mu_;
};

}  // namespace

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(int dimension, const VectorIndexOptions& options) {
  if (dimension <= 0) return InvalidArgument("vector dimension must be positive");
  try {
    std::unique_ptr<faiss::Index> inner(
        faiss::index_factory(dimension, options.factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    auto map = std::make_unique<faiss::IndexIDMap2>(inner.release());
    map->own_fields = true;
    auto index = std::make_unique<FaissIndex>(std::move(map));
    index->set_inner_kind(options.factory);
    return std::unique_ptr<VectorIndex>(std::move(index));
  } catch (const faiss::FaissException& e) {
    return InvalidArgument("FAISS rejects index description '" + options.factory + "': " + e.what());
  }
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Load(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFound("no vector index at " + path.string());
  try {
    std::unique_ptr<faiss::Index> raw(faiss::read_index(path.c_str()));
    auto* map = dynamic_cast<faiss::IndexIDMap2*>(raw.get());
    if (!map) return DataLoss(path.string() + " is a FAISS index without chunk ids; rebuild it");
    raw.release();
    auto index = std::make_unique<FaissIndex>(std::unique_ptr<faiss::IndexIDMap2>(map));
    index->set_inner_kind(dynamic_cast<faiss::IndexFlat*>(map->index)   ? "Flat"
                          : dynamic_cast<faiss::IndexHNSW*>(map->index) ? "HNSW"
                          : dynamic_cast<faiss::IndexIVF*>(map->index)  ? "IVF"
                                                                         : "other");
    return std::unique_ptr<VectorIndex>(std::move(index));
  } catch (const faiss::FaissException& e) {
    return DataLoss("cannot read vector index " + path.string() + " (" + e.what() +
                    "); it will be rebuilt from the stored embeddings");
  }
}

}  // namespace cloister::index
