// Rank fusion: combines several rankings of the same ids (vector search, BM25) into one.
//
//   auto fused = index::FuseReciprocalRank({vector_ids, lexical_ids}, {1.0, 1.0}, 60);
//
// Reciprocal rank fusion (Cormack et al., 2009): score(id) = sum over rankings r of
// weight_r / (k + rank_r(id)), ranks counted from 1. Pure function, thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace cloister::index {

struct FusedHit {
  int64_t id = 0;
  double score = 0;
};

// `weights` may be empty (all 1) or have one entry per ranking; missing entries count as 1.
// Ties are broken by first appearance (earlier ranking, then better rank), so the result is
// deterministic. `k` below 1 is treated as 1.
std::vector<FusedHit> FuseReciprocalRank(const std::vector<std::vector<int64_t>>& rankings,
                                         const std::vector<double>& weights = {}, double k = 60);

}  // namespace cloister::index
