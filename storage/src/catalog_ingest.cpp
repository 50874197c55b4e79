// Catalog: what the ingestion pipeline needs beyond single rows. Document trees stored at once,
// a job's documents made visible or discarded, and documents following their files when those
// are renamed, moved or deleted.
#include <string>

#include "catalog_rows.h"
#include "cloister/storage/catalog.h"

namespace cloister::storage {
namespace {

Status CheckDepth(const DocumentTree& tree, int depth) {
  if (depth > kMaxDocumentTreeDepth) {
    return InvalidArgument("document " + tree.document.path + " is nested " +
                           std::to_string(depth) + " levels deep; at most " +
                           std::to_string(kMaxDocumentTreeDepth) +
                           " are stored, so stop unpacking attachments beyond that");
  }
  for (const DocumentTree& child : tree.children) {
    CLOISTER_RETURN_IF_ERROR(CheckDepth(child, depth + 1));
  }
  return Status::Ok();
}

std::string Describe(const Document& doc) {
  return doc.name.empty() ? "document " + doc.path : "document " + doc.path + " (" + doc.name + ")";
}

// Inserts `tree` with `document` standing for tree.document (its parent and job already set).
Result<int64_t> InsertTree(const Database& db, const DocumentTree& tree, const Document& document) {
  CLOISTER_ASSIGN_OR_RETURN(int64_t id, internal::InsertDocument(db, document));
  Result<std::vector<int64_t>> chunk_ids = internal::InsertChunks(db, id, tree.chunks);
  if (!chunk_ids.ok()) return chunk_ids.status().WithContext("storing " + Describe(document));
  for (const DocumentTree& child : tree.children) {
    Document child_document = child.document;
    child_document.parent_id = id;
    if (!child_document.job_id) child_document.job_id = document.job_id;
    CLOISTER_RETURN_IF_ERROR(InsertTree(db, child, child_document).status());
  }
  return id;
}

Status RequireJob(const Database& db, int64_t job_id) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare("SELECT 1 FROM jobs WHERE id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, job_id));
  CLOISTER_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) return NotFound("job " + std::to_string(job_id) + " does not exist");
  return Status::Ok();
}

Status RequirePath(std::string_view path, std::string_view what) {
  if (!path.empty()) return Status::Ok();
  return InvalidArgument(std::string(what) + " is empty; give the file's path");
}

// The paths under a directory, as the byte range [low, high): low is the directory with one
// trailing '/', high the same with that '/' raised to '0', the next byte. A range rather than
// LIKE because paths may hold '%' and '_', and because it can use the index on documents.path.
struct PathRange {
  std::string low;
  std::string high;
};

Result<std::string> DirectoryPrefix(std::string_view dir, std::string_view what) {
  if (dir.empty()) {
    return InvalidArgument(std::string(what) + " is empty; give the folder's path (\"/\" for all)");
  }
  std::string prefix(dir);
  if (prefix.back() != '/') prefix += '/';
  return prefix;
}

Result<PathRange> UnderDirectory(std::string_view dir, std::string_view what) {
  CLOISTER_ASSIGN_OR_RETURN(std::string low, DirectoryPrefix(dir, what));
  std::string high = low;
  high.back() = '0';
  return PathRange{std::move(low), std::move(high)};
}

// A CTE `doomed` of the ids of the documents matching `where` (over documents, parameters from
// ?1) and of every document inside them.
std::string DocumentsWithin(std::string_view where) {
  return "WITH RECURSIVE doomed (id) AS (SELECT id FROM documents WHERE " + std::string(where) +
         " UNION SELECT d.id FROM documents AS d JOIN doomed ON d.parent_id = doomed.id) ";
}

// Their chunk ids, ascending. CROSS JOIN keeps doomed outside, so chunks are found through
// their document_id index instead of scanned.
constexpr std::string_view kDoomedChunkIds =
    "SELECT c.id FROM doomed CROSS JOIN chunks AS c ON c.document_id = doomed.id ORDER BY c.id";

// The unary '+' keeps SQLite from using the parent_id index for "IS NULL", true of nearly every
// row, when the path index narrows the search far more.
constexpr std::string_view kTopLevelAtPath = "path = ?1 AND +parent_id IS NULL";
constexpr std::string_view kTopLevelUnder = "path >= ?1 AND path < ?2 AND +parent_id IS NULL";
// What FinalizeJobDocuments replaces: ?1 the path, ?2 the job.
constexpr std::string_view kReplacedByJob =
    "path = ?1 AND +parent_id IS NULL AND (job_id IS NULL OR job_id <> ?2)";

Result<std::vector<int64_t>> ReadIds(Statement& st) {
  return internal::ReadAll<int64_t>(
      st, [](const Statement& row) -> Result<int64_t> { return row.ColumnInt64(0); });
}

// Runs `sql` with `bind` applied and returns the rows it changed (those it touched directly:
// SQLite does not count cascaded deletes).
template <typename Bind>
Result<int> RunCounting(const Database& db, std::string_view sql, Bind bind) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(bind(st));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return db.Changes();
}

}  // namespace

Result<int64_t> Catalog::AddDocumentTree(const DocumentTree& tree) {
  CLOISTER_RETURN_IF_ERROR(CheckDepth(tree, 1));
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  CLOISTER_ASSIGN_OR_RETURN(int64_t id, InsertTree(db_, tree, tree.document));
  CLOISTER_RETURN_IF_ERROR(tx.Commit());
  return id;
}

Status Catalog::FinalizeJobDocuments(int64_t job_id, std::string_view path) {
  CLOISTER_RETURN_IF_ERROR(RequirePath(path, "the path to finalize"));
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  CLOISTER_RETURN_IF_ERROR(RequireJob(db_, job_id));
  auto bind_stale = [&](Statement& st) -> Status {
    CLOISTER_RETURN_IF_ERROR(st.Bind(1, path));
    return st.Bind(2, job_id);
  };
  CLOISTER_RETURN_IF_ERROR(
      RunCounting(db_, "DELETE FROM documents WHERE " + std::string(kReplacedByJob), bind_stale)
          .status());
  auto bind_job = [&](Statement& st) -> Status {
    CLOISTER_RETURN_IF_ERROR(st.Bind(1, job_id));
    return st.Bind(2, internal::NowSeconds());
  };
  CLOISTER_RETURN_IF_ERROR(
      RunCounting(db_,
                  "UPDATE documents SET status = CASE WHEN error = '' THEN 'ready' "
                  "ELSE 'partial' END, updated_at = ?2 WHERE job_id = ?1 AND status = 'queued'",
                  bind_job)
          .status());
  return tx.Commit().WithContext("finalizing job " + std::to_string(job_id));
}

Result<int> Catalog::DiscardJobDocuments(int64_t job_id) {
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  CLOISTER_RETURN_IF_ERROR(RequireJob(db_, job_id));
  // Counted before deleting: the attachments go by cascade, which Changes() leaves out.
  CLOISTER_ASSIGN_OR_RETURN(Statement count,
                            db_.Prepare(DocumentsWithin("job_id = ?1 AND status = 'queued'") +
                                        "SELECT count(*) FROM doomed"));
  CLOISTER_RETURN_IF_ERROR(count.Bind(1, job_id));
  CLOISTER_RETURN_IF_ERROR(count.Step().status());
  int removed = static_cast<int>(count.ColumnInt64(0));
  count.Reset();
  auto bind = [&](Statement& st) { return st.Bind(1, job_id); };
  CLOISTER_RETURN_IF_ERROR(
      RunCounting(db_, "DELETE FROM documents WHERE job_id = ?1 AND status = 'queued'", bind)
          .status());
  CLOISTER_RETURN_IF_ERROR(tx.Commit());
  return removed;
}

Result<int> Catalog::RenameDocuments(std::string_view old_path, std::string_view new_path) {
  CLOISTER_RETURN_IF_ERROR(RequirePath(old_path, "the old path"));
  CLOISTER_RETURN_IF_ERROR(RequirePath(new_path, "the new path"));
  return RunCounting(db_, "UPDATE documents SET path = ?2 WHERE path = ?1",
                     [&](Statement& st) -> Status {
                       CLOISTER_RETURN_IF_ERROR(st.Bind(1, old_path));
                       return st.Bind(2, new_path);
                     });
}

Result<int> Catalog::RenameDocumentsUnder(std::string_view old_dir, std::string_view new_dir) {
  CLOISTER_ASSIGN_OR_RETURN(PathRange range, UnderDirectory(old_dir, "the old folder"));
  CLOISTER_ASSIGN_OR_RETURN(std::string new_prefix, DirectoryPrefix(new_dir, "the new folder"));
  // The rest of the path is cut by bytes (a BLOB's substr), so no character counting can drift.
  return RunCounting(db_,
                     "UPDATE documents SET path = ?3 || CAST(substr(CAST(path AS BLOB), ?4) AS "
                     "TEXT) WHERE path >= ?1 AND path < ?2",
                     [&](Statement& st) -> Status {
                       CLOISTER_RETURN_IF_ERROR(st.Bind(1, range.low));
                       CLOISTER_RETURN_IF_ERROR(st.Bind(2, range.high));
                       CLOISTER_RETURN_IF_ERROR(st.Bind(3, new_prefix));
                       return st.Bind(4, range.low.size() + 1);
                     });
}

Result<int> Catalog::RenameJobsUnder(std::string_view old_dir, std::string_view new_dir) {
  CLOISTER_ASSIGN_OR_RETURN(PathRange range, UnderDirectory(old_dir, "the old folder"));
  CLOISTER_ASSIGN_OR_RETURN(std::string new_prefix, DirectoryPrefix(new_dir, "the new folder"));
  return RunCounting(db_,
                     "UPDATE jobs SET path = ?3 || CAST(substr(CAST(path AS BLOB), ?4) AS "
                     "TEXT) WHERE path >= ?1 AND path < ?2",
                     [&](Statement& st) -> Status {
                       CLOISTER_RETURN_IF_ERROR(st.Bind(1, range.low));
                       CLOISTER_RETURN_IF_ERROR(st.Bind(2, range.high));
                       CLOISTER_RETURN_IF_ERROR(st.Bind(3, new_prefix));
                       return st.Bind(4, range.low.size() + 1);
                     });
}

Result<int> Catalog::DeleteDocumentsAtPath(std::string_view path) {
  return RunCounting(db_, "DELETE FROM documents WHERE " + std::string(kTopLevelAtPath),
                     [&](Statement& st) { return st.Bind(1, path); });
}

Result<int> Catalog::DeleteDocumentsUnder(std::string_view dir) {
  CLOISTER_ASSIGN_OR_RETURN(PathRange range, UnderDirectory(dir, "the folder"));
  return RunCounting(db_, "DELETE FROM documents WHERE " + std::string(kTopLevelUnder),
                     [&](Statement& st) -> Status {
                       CLOISTER_RETURN_IF_ERROR(st.Bind(1, range.low));
                       return st.Bind(2, range.high);
                     });
}

Result<std::vector<int64_t>> Catalog::ChunkIdsAtPath(std::string_view path) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare(DocumentsWithin(kTopLevelAtPath) + std::string(kDoomedChunkIds)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, path));
  return ReadIds(st);
}

Result<std::vector<int64_t>> Catalog::ChunkIdsUnder(std::string_view dir) const {
  CLOISTER_ASSIGN_OR_RETURN(PathRange range, UnderDirectory(dir, "the folder"));
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare(DocumentsWithin(kTopLevelUnder) + std::string(kDoomedChunkIds)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, range.low));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, range.high));
  return ReadIds(st);
}

Result<std::vector<int64_t>> Catalog::ChunkIdsReplacedByJob(int64_t job_id,
                                                            std::string_view path) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare(DocumentsWithin(kReplacedByJob) + std::string(kDoomedChunkIds)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, path));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, job_id));
  return ReadIds(st);
}

}  // namespace cloister::storage
