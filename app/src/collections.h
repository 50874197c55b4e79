// Which collection a file belongs to: the collection whose folder holds it (the deepest such
// folder when they nest), else the default collection. Shared by `cloister ingest` and the
// folder watchers so both file a path alike. Private to app.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {

// The id of the collection for `file` (an absolute path) among `collections`; `fallback` (the
// default collection's id) when no collection's folder holds it. Folders are compared after
// resolving symbolic links, as ExpandPaths resolves the files.
int64_t CollectionForPath(const std::vector<storage::Collection>& collections,
                          const std::filesystem::path& file, int64_t fallback);

// The same, reading the collections from `catalog` (and creating the default collection).
Result<int64_t> CollectionForPath(storage::Catalog& catalog, const std::filesystem::path& file);

}  // namespace cloister::app
