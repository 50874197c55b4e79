// The catalog's schema and its forward-only migrations. The version lives in
// PRAGMA user_version; each migration runs in its own transaction, so a crash leaves the
// database at the previous version, never between two.
//
//   CLOISTER_ASSIGN_OR_RETURN(Database db, Database::Open(path));
//   CLOISTER_RETURN_IF_ERROR(Migrate(db));  // Catalog::Open does this for you
//
// Versions:
//   1  collections (with the row 'default'), documents, chunks, embeddings, jobs
//   2  chunks_fts: an FTS5 index over chunks.text kept in sync by triggers
//   3  documents.job_id (the job that wrote the row) and documents.name; jobs indexed by path
//   4  chunks_fts re-made with the ICU tokenizer "cloister_icu" (words in every language,
//      Chinese, Japanese and Thai included) and re-indexed
//   5  settings (key, value)
//   6  users, api_keys, sessions, user_collections (accounts; secrets stored only as hashes)
#pragma once

#include "cloister/core/status.h"
#include "cloister/storage/sqlite.h"

namespace cloister::storage {

// The newest schema this build knows.
inline constexpr int kSchemaVersion = 6;

// The database's schema version: 0 for a new, empty database.
Result<int> SchemaVersion(const Database& db);

// Applies every migration above the database's version up to `target_version` (the parameter
// exists so tests can build an older database). Concurrent migrations by two processes are
// safe: each step re-reads the version under the write lock.
// Errors:
//   kInvalidArgument     target_version is outside 1..kSchemaVersion.
//   kFailedPrecondition  the database is newer than kSchemaVersion ("database <path> has schema
//                        version 7 but this Cloister supports up to 4; ..."), newer than
//                        target_version (migrations only go forward), holds tables but no
//                        schema version (not a Cloister catalog), or is read-only and needs an
//                        upgrade.
//   kUnavailable         another connection holds the write lock past the busy timeout.
//   others               as mapped in sqlite.h; the message names the migration that failed.
Status Migrate(Database& db, int target_version = kSchemaVersion);

// For a database opened read-only: Ok when its version is exactly kSchemaVersion, otherwise
// kFailedPrecondition saying whether to upgrade Cloister or open the database read-write once.
Status CheckSchemaCurrent(const Database& db);

}  // namespace cloister::storage
