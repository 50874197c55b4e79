#include "cloister/storage/schema.h"

#include <string>

#include "cloister/core/failpoint.h"
#include "cloister/core/log.h"
#include "migrations.h"

namespace cloister::storage {
namespace {

std::string Describe(const Database& db) { return "database " + db.path().string(); }

Status NewerThanSupported(const Database& db, int version) {
  return FailedPrecondition(Describe(db) + " has schema version " + std::to_string(version) +
                            " but this Cloister supports up to " + std::to_string(kSchemaVersion) +
                            "; upgrade Cloister or restore a backup");
}

Status CheckStartingPoint(const Database& db, int version, int target) {
  if (version > kSchemaVersion) return NewerThanSupported(db, version);
  if (version > target) {
    return FailedPrecondition(Describe(db) + " has schema version " + std::to_string(version) +
                              ", newer than the requested " + std::to_string(target) +
                              "; migrations only go forward");
  }
  if (version != 0) return Status::Ok();
  CLOISTER_ASSIGN_OR_RETURN(
      int64_t tables, db.QueryInt64("SELECT count(*) FROM sqlite_master WHERE type = 'table'"));
  if (tables > 0) {
    return FailedPrecondition(Describe(db) +
                              " holds tables but no Cloister schema version, so it is not a "
                              "Cloister catalog; point Cloister at a new file");
  }
  return Status::Ok();
}

Status Apply(Database& db, const internal::Migration& migration) {
  const std::string where = "migrating " + Describe(db) + " to schema version " +
                            std::to_string(migration.version) + " (" + std::string(migration.name) +
                            ")";
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
  // Another process may have migrated between our first look and taking the write lock.
  CLOISTER_ASSIGN_OR_RETURN(int current, SchemaVersion(db));
  if (current >= migration.version) return Status::Ok();
  CLOISTER_RETURN_IF_ERROR(db.Exec(migration.sql).WithContext(where));
  Failpoint("migration_before_commit");
  CLOISTER_RETURN_IF_ERROR(
      db.Exec("PRAGMA user_version = " + std::to_string(migration.version)).WithContext(where));
  return tx.Commit().WithContext(where);
}

}  // namespace

Result<int> SchemaVersion(const Database& db) {
  CLOISTER_ASSIGN_OR_RETURN(int64_t version, db.QueryInt64("PRAGMA user_version"));
  return static_cast<int>(version);
}

Status Migrate(Database& db, int target_version) {
  if (target_version < 1 || target_version > kSchemaVersion) {
    return InvalidArgument("schema version " + std::to_string(target_version) +
                           " requested; this Cloister knows versions 1 to " +
                           std::to_string(kSchemaVersion));
  }
  CLOISTER_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  CLOISTER_RETURN_IF_ERROR(CheckStartingPoint(db, version, target_version));
  if (version == target_version) return Status::Ok();
  for (const internal::Migration& migration : internal::Migrations()) {
    if (migration.version <= version) continue;
    if (migration.version > target_version) break;
    CLOISTER_RETURN_IF_ERROR(Apply(db, migration));
  }
  log::Info("storage", "database schema migrated",
            {{"path", db.path().string()},
             {"from", std::to_string(version)},
             {"to", std::to_string(target_version)}});
  return Status::Ok();
}

Status CheckSchemaCurrent(const Database& db) {
  CLOISTER_ASSIGN_OR_RETURN(int version, SchemaVersion(db));
  if (version > kSchemaVersion) return NewerThanSupported(db, version);
  if (version < kSchemaVersion) {
    return FailedPrecondition(Describe(db) + " has schema version " + std::to_string(version) +
                              ", older than " + std::to_string(kSchemaVersion) +
                              "; open it once read-write to migrate it");
  }
  return Status::Ok();
}

}  // namespace cloister::storage
