// ChunkFilter as SQL: one condition over a documents row, shared by lexical search and
// VisibleChunks so both filter alike. Private to storage.
#pragma once

#include <string>

#include "cloister/storage/catalog.h"
#include "cloister/storage/sqlite.h"

namespace cloister::storage::internal {

// A boolean SQL expression over the documents row aliased `doc`, reading its five parameters
// from ?first .. ?first+4 (bound by BindFilter).
std::string FilterCondition(const std::string& doc, int first);
Status BindFilter(Statement& statement, int first, const ChunkFilter& filter);

}  // namespace cloister::storage::internal
