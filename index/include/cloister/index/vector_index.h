// Nearest-neighbour search over chunk vectors, backed by FAISS.
//
//   auto index = index::VectorIndex::Create(384, {});          // or Load(path)
//   CLOISTER_RETURN_IF_ERROR(index->Add({{chunk_id, vector}, ...}));
//   auto hits = index->Search(query_vector, 10);               // best first
//   CLOISTER_RETURN_IF_ERROR(index->Save("data/vectors.faiss"));
//
// Ids are chunk ids. Vectors are expected unit-length; the score is their inner product (cosine).
// Thread safety: concurrent Search calls are safe; Add, Remove and Save take an exclusive lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cloister/core/status.h"

namespace cloister::index {

struct VectorIndexOptions {
  // FAISS index_factory description; inner-product metric always. "Flat" is exact search.
  std::string factory = "Flat";
};

struct VectorHit {
  int64_t id = 0;
  float score = 0;
};

struct IdVector {
  int64_t id = 0;
  std::vector<float> vector;
};

class VectorIndex {
 public:
  // kInvalidArgument for a non-positive dimension or a factory string FAISS rejects.
  static Result<std::unique_ptr<VectorIndex>> Create(int dimension, const VectorIndexOptions& options);
  // kNotFound if the file is missing; kDataLoss if it is not a readable FAISS index (rebuild it
  // from the stored embeddings).
  static Result<std::unique_ptr<VectorIndex>> Load(const std::filesystem::path& path);
  virtual ~VectorIndex() = default;

  virtual int dimension() const = 0;
  virtual int64_t size() const = 0;
  // A short description, e.g. "IDMap2,Flat (inner product)".
  virtual std::string kind() const = 0;

  // Replaces vectors whose id is already present. kInvalidArgument if a vector's length is not
  // dimension(), naming the id.
  virtual Status Add(const std::vector<IdVector>& items) = 0;
  // Ids not present are ignored. Returns how many were removed.
  virtual int64_t Remove(const std::vector<int64_t>& ids) = 0;
  // Up to k hits, best first. kInvalidArgument if the query length is not dimension().
  virtual Result<std::vector<VectorHit>> Search(const std::vector<float>& query, int k) const = 0;
  // Written to a temporary file beside `path`, then renamed over it.
  virtual Status Save(const std::filesystem::path& path) const = 0;
};

}  // namespace cloister::index
