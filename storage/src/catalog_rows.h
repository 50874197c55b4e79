// Shared by the catalog_*.cpp files: column lists, row readers and small query helpers.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/storage/catalog.h"
#include "cloister/storage/sqlite.h"

namespace cloister::storage::internal {

// Unix seconds now.
int64_t NowSeconds();

// Select lists matching the readers below, column for column.
inline constexpr std::string_view kDocumentColumns =
    "id, collection_id, parent_id, path, content_hash, type, title, metadata, status, error, "
    "size_bytes, page_count, created_at, updated_at, job_id, name";
inline constexpr std::string_view kChunkColumns =
    "id, document_id, ordinal, text, page_start, page_end, heading, metadata";
inline constexpr std::string_view kJobColumns =
    "id, path, collection_id, document_id, state, error, attempts, created_at, updated_at";

// kDataLoss when a stored status or state is not one this build knows.
Result<Document> ReadDocument(const Statement& row);
Chunk ReadChunk(const Statement& row);
Result<Job> ReadJob(const Statement& row);

// Steps `statement` to the end, reading each row with `read` (returning T or Result<T>).
template <typename T, typename Reader>
Result<std::vector<T>> ReadAll(Statement& statement, Reader read) {
  std::vector<T> rows;
  for (;;) {
    CLOISTER_ASSIGN_OR_RETURN(bool has_row, statement.Step());
    if (!has_row) return rows;
    Result<T> row = read(statement);
    if (!row.ok()) return row.status();
    rows.push_back(std::move(row).value());
  }
}

// Runs a statement that returns no rows.
Status RunToEnd(Statement& statement);

// AddDocument without a transaction of its own: validates and inserts `document`, returning
// its id. Errors as AddDocument.
Result<int64_t> InsertDocument(const Database& db, const Document& document);
// ReplaceChunks' inserts for a document with no chunks yet, inside the caller's transaction.
// Returns the ids in the order given; errors as ReplaceChunks.
Result<std::vector<int64_t>> InsertChunks(const Database& db, int64_t document_id,
                                          const std::vector<Chunk>& chunks);

}  // namespace cloister::storage::internal
