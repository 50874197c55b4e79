// Catalog: chunks.
#include <string>

#include "catalog_rows.h"
#include "cloister/storage/catalog.h"

namespace cloister::storage {
namespace {

using internal::kChunkColumns;

Status RequireDocument(const Database& db, int64_t document_id) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare("SELECT 1 FROM documents WHERE id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, document_id));
  CLOISTER_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) return NotFound("document " + std::to_string(document_id) + " does not exist");
  return Status::Ok();
}

Status DeleteChunksOf(const Database& db, int64_t document_id) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare("DELETE FROM chunks WHERE document_id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, document_id));
  return internal::RunToEnd(st);
}

Status InsertChunk(Statement& insert, int64_t document_id, const Chunk& chunk, size_t position) {
  insert.Reset();
  CLOISTER_RETURN_IF_ERROR(insert.Bind(1, document_id));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(2, chunk.ordinal));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(3, chunk.text));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(4, chunk.page_start));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(5, chunk.page_end));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(6, chunk.heading));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(7, chunk.metadata));
  Status status = internal::RunToEnd(insert);
  if (status.ok()) return status;
  std::string which = "chunk " + std::to_string(position) + " (ordinal " +
                      std::to_string(chunk.ordinal) + ") of document " +
                      std::to_string(document_id);
  // With the document's old chunks already deleted, a constraint can only trip on the input.
  if (status.code() == StatusCode::kInvalidArgument ||
      status.code() == StatusCode::kFailedPrecondition) {
    return InvalidArgument(which + " is malformed: " + status.message() +
                           "; ordinals must be unique and >= 0, pages >= 1 with page_end >= "
                           "page_start, metadata a JSON object");
  }
  return status.WithContext("storing " + which);
}

}  // namespace

Result<std::vector<int64_t>> internal::InsertChunks(const Database& db, int64_t document_id,
                                                    const std::vector<Chunk>& chunks) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement insert,
      db.Prepare("INSERT INTO chunks (document_id, ordinal, text, page_start, page_end, "
                 "heading, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
  std::vector<int64_t> ids;
  ids.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    CLOISTER_RETURN_IF_ERROR(InsertChunk(insert, document_id, chunks[i], i));
    // The FTS trigger's insert does not count: after a trigger SQLite restores the outer rowid.
    ids.push_back(db.LastInsertRowId());
  }
  return ids;
}

Result<std::vector<int64_t>> Catalog::ReplaceChunks(int64_t document_id,
                                                    const std::vector<Chunk>& chunks) {
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  CLOISTER_RETURN_IF_ERROR(RequireDocument(db_, document_id));
  CLOISTER_RETURN_IF_ERROR(DeleteChunksOf(db_, document_id));
  CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                            internal::InsertChunks(db_, document_id, chunks));
  CLOISTER_RETURN_IF_ERROR(tx.Commit());
  return ids;
}

Result<std::vector<Chunk>> Catalog::GetChunks(int64_t document_id) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("SELECT " + std::string(kChunkColumns) +
                                        " FROM chunks WHERE document_id = ?1 ORDER BY ordinal"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, document_id));
  return internal::ReadAll<Chunk>(st, internal::ReadChunk);
}

Result<Chunk> Catalog::GetChunk(int64_t chunk_id) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT " + std::string(kChunkColumns) +
                                                      " FROM chunks WHERE id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, chunk_id));
  CLOISTER_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) return NotFound("chunk " + std::to_string(chunk_id) + " does not exist");
  return internal::ReadChunk(st);
}

}  // namespace cloister::storage
