#include "catalog_rows.h"

#include <chrono>
#include <string>

namespace cloister::storage::internal {
namespace {

std::optional<int> OptionalInt(const Statement& row, int col) {
  std::optional<int64_t> value = row.ColumnOptionalInt64(col);
  if (!value) return std::nullopt;
  return static_cast<int>(*value);
}

}  // namespace

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<Document> ReadDocument(const Statement& row) {
  Document doc;
  doc.id = row.ColumnInt64(0);
  doc.collection_id = row.ColumnInt64(1);
  doc.parent_id = row.ColumnOptionalInt64(2);
  doc.path = row.ColumnText(3);
  doc.content_hash = row.ColumnText(4);
  doc.type = row.ColumnText(5);
  doc.title = row.ColumnText(6);
  doc.metadata = row.ColumnText(7);
  std::string status = row.ColumnText(8);
  std::optional<DocumentStatus> parsed = ParseDocumentStatus(status);
  if (!parsed) {
    return DataLoss("document " + std::to_string(doc.id) + " has unknown status '" + status +
                    "'; the catalog was written by another program");
  }
  doc.status = *parsed;
  doc.error = row.ColumnText(9);
  doc.size_bytes = row.ColumnInt64(10);
  doc.page_count = row.ColumnInt64(11);
  doc.created_at = row.ColumnInt64(12);
  doc.updated_at = row.ColumnInt64(13);
  doc.job_id = row.ColumnOptionalInt64(14);
  doc.name = row.ColumnText(15);
  return doc;
}

Chunk ReadChunk(const Statement& row) {
  Chunk chunk;
  chunk.id = row.ColumnInt64(0);
  chunk.document_id = row.ColumnInt64(1);
  chunk.ordinal = static_cast<int>(row.ColumnInt64(2));
  chunk.text = row.ColumnText(3);
  chunk.page_start = OptionalInt(row, 4);
  chunk.page_end = OptionalInt(row, 5);
  if (!row.ColumnIsNull(6)) chunk.heading = row.ColumnText(6);
  chunk.metadata = row.ColumnText(7);
  return chunk;
}

Result<Job> ReadJob(const Statement& row) {
  Job job;
  job.id = row.ColumnInt64(0);
  job.path = row.ColumnText(1);
  job.collection_id = row.ColumnInt64(2);
  job.document_id = row.ColumnOptionalInt64(3);
  std::string state = row.ColumnText(4);
  std::optional<JobState> parsed = ParseJobState(state);
  if (!parsed) {
    return DataLoss("job " + std::to_string(job.id) + " has unknown state '" + state +
                    "'; the catalog was written by another program");
  }
  job.state = *parsed;
  job.error = row.ColumnText(5);
  job.attempts = static_cast<int>(row.ColumnInt64(6));
  job.created_at = row.ColumnInt64(7);
  job.updated_at = row.ColumnInt64(8);
  return job;
}

Status RunToEnd(Statement& statement) {
  for (;;) {
    CLOISTER_ASSIGN_OR_RETURN(bool has_row, statement.Step());
    if (!has_row) return Status::Ok();
  }
}

}  // namespace cloister::storage::internal
