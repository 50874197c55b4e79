#include "cloister/index/fusion.h"

#include <algorithm>
#include <unordered_map>

namespace cloister::index {

std::vector<FusedHit> FuseReciprocalRank(const std::vector<std::vector<int64_t>>& rankings,
                                         const std::vector<double>& weights, double k) {
  k = std::max(k, 1.0);
  std::vector<FusedHit> fused;
  std::unordered_map<int64_t, size_t> position;  // id -> index in `fused`, in first-seen order
  for (size_t r = 0; r < rankings.size(); ++r) {
    double weight = r < weights.size() ? weights[r] : 1.0;
    for (size_t rank = 0; rank < rankings[r].size(); ++rank) {
      int64_t id = rankings[r][rank];
      auto [it, inserted] = position.emplace(id, fused.size());
      if (inserted) fused.push_back({id, 0.0});
      fused[it->second].score += weight / (k + static_cast<double>(rank + 1));
    }
  }
  std::stable_sort(fused.begin(), fused.end(),
                   [](const FusedHit& a, const FusedHit& b) { return a.score > b.score; });
  return fused;
}

}  // namespace cloister::index
