// Catalog: ingestion jobs.
#include <string>

#include "catalog_rows.h"
#include "cloister/storage/catalog.h"

namespace cloister::storage {
namespace {

using internal::kJobColumns;

Status NoSuchJob(int64_t id) { return NotFound("job " + std::to_string(id) + " does not exist"); }

// The first row of `statement` as a job, or nullopt when it returns none.
Result<std::optional<Job>> FirstJob(Statement& statement) {
  CLOISTER_ASSIGN_OR_RETURN(bool has_row, statement.Step());
  if (!has_row) return std::optional<Job>();
  CLOISTER_ASSIGN_OR_RETURN(Job job, internal::ReadJob(statement));
  return std::optional<Job>(std::move(job));
}

}  // namespace

Result<int64_t> Catalog::EnqueueJob(std::string_view path, int64_t collection_id) {
  if (path.empty()) return InvalidArgument("job path is empty; give the file to ingest");
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("INSERT INTO jobs (path, collection_id, state, created_at, "
                                        "updated_at) VALUES (?1, ?2, 'queued', ?3, ?3)"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, path));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, collection_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st).WithContext(
      "queueing " + std::string(path) + " for collection " + std::to_string(collection_id) +
      " (does the collection exist?)"));
  return db_.LastInsertRowId();
}

Status Catalog::SetJobState(int64_t id, JobState state, std::string_view error) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("UPDATE jobs SET state = ?1, error = ?2, updated_at = ?3, "
                                        "attempts = attempts + (?1 = 'extracting') WHERE id = ?4"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, JobStateName(state)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, error));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  if (db_.Changes() == 0) return NoSuchJob(id);
  return Status::Ok();
}

Status Catalog::SetJobDocument(int64_t id, int64_t document_id) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("UPDATE jobs SET document_id = ?1, updated_at = ?2 WHERE id = ?3"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, document_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st).WithContext(
      "linking job " + std::to_string(id) + " to document " + std::to_string(document_id) +
      " (does the document exist?)"));
  if (db_.Changes() == 0) return NoSuchJob(id);
  return Status::Ok();
}

Result<std::vector<Job>> Catalog::ListJobs(std::optional<JobState> state) const {
  std::string sql = "SELECT " + std::string(kJobColumns) + " FROM jobs";
  if (state) sql += " WHERE state = ?1";
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql + " ORDER BY id"));
  if (state) CLOISTER_RETURN_IF_ERROR(st.Bind(1, JobStateName(*state)));
  return internal::ReadAll<Job>(st, internal::ReadJob);
}

Result<Job> Catalog::GetJob(int64_t id) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("SELECT " + std::string(kJobColumns) + " FROM jobs WHERE id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, id));
  CLOISTER_ASSIGN_OR_RETURN(std::optional<Job> job, FirstJob(st));
  if (!job) return NoSuchJob(id);
  return std::move(*job);
}

Result<std::optional<Job>> Catalog::ClaimNextJob() {
  // BEGIN IMMEDIATE takes the write lock before the job is chosen: two workers cannot both see
  // it queued, and no reader snapshot goes stale under us (which a deferred transaction would
  // report as SQLITE_BUSY without waiting).
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("UPDATE jobs SET state = 'extracting', attempts = attempts + 1, "
                  "updated_at = ?1 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' "
                  "ORDER BY id LIMIT 1) RETURNING " +
                  std::string(kJobColumns)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, internal::NowSeconds()));
  CLOISTER_ASSIGN_OR_RETURN(std::optional<Job> job, FirstJob(st));
  // Finishing the statement lets COMMIT run; stepping one that is done would run it again.
  if (job) CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  CLOISTER_RETURN_IF_ERROR(tx.Commit());
  return job;
}

Result<std::optional<Job>> Catalog::FindUnfinishedJob(std::string_view path) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("SELECT " + std::string(kJobColumns) +
                                " FROM jobs WHERE path = ?1 AND state IN ('queued', 'extracting', "
                                "'chunking', 'embedding') ORDER BY id LIMIT 1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, path));
  return FirstJob(st);
}

Result<int> Catalog::ResetUnfinishedJobs() {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("UPDATE jobs SET state = 'queued', updated_at = ?1 "
                                        "WHERE state IN ('extracting', 'chunking', 'embedding')"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return db_.Changes();
}

}  // namespace cloister::storage
