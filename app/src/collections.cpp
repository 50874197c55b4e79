#include "collections.h"

#include <algorithm>
#include <string>
#include <system_error>

namespace cloister::app {
namespace fs = std::filesystem;

int64_t CollectionForPath(const std::vector<storage::Collection>& collections, const fs::path& file,
                          int64_t fallback) {
  const std::string path = file.lexically_normal().string();
  int64_t best = fallback;
  size_t best_length = 0;
  for (const storage::Collection& c : collections) {
    if (c.folder.empty()) continue;
    std::error_code ec;
    fs::path folder = fs::weakly_canonical(fs::path(c.folder), ec);
    if (ec) folder = fs::path(c.folder);
    std::string prefix = folder.lexically_normal().string();
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    prefix += '/';
    if (path.rfind(prefix, 0) == 0 && prefix.size() > best_length) {
      best = c.id;
      best_length = prefix.size();
    }
  }
  return best;
}

Result<int64_t> CollectionForPath(storage::Catalog& catalog, const fs::path& file) {
  // A read at every file; the default collection is written only the first time, when missing.
  CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> all, catalog.ListCollections());
  auto it = std::find_if(all.begin(), all.end(),
                         [](const auto& c) { return c.name == storage::kDefaultCollection; });
  int64_t fallback = 0;
  if (it != all.end()) {
    fallback = it->id;
  } else {
    CLOISTER_ASSIGN_OR_RETURN(fallback, catalog.EnsureCollection(storage::kDefaultCollection, ""));
  }
  return CollectionForPath(all, file, fallback);
}

}  // namespace cloister::app
