// ChunkFilter as SQL: one condition over a documents row, shared by lexical search and
// VisibleChunks so both filter alike. Private to storage.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cloister/storage/catalog.h"
#include "cloister/storage/sqlite.h"

namespace cloister::storage::internal {

// A boolean SQL expression over the documents row aliased `doc`, reading its six parameters
// from ?first .. ?first+5 (bound by BindFilter).
std::string FilterCondition(const std::string& doc, int first);
Status BindFilter(Statement& statement, int first, const ChunkFilter& filter);

// "column is one of the ids in ?param", the ids bound as BindIdList writes them; with NULL bound
// the test passes for every row, with "" for none.
std::string IdInList(const std::string& column, int param);
Status BindIdList(Statement& statement, int param, const std::optional<std::vector<int64_t>>& ids);

}  // namespace cloister::storage::internal
