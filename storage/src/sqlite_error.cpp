#include "sqlite_error.h"

#include <string>

namespace cloister::storage::internal {
namespace {

constexpr size_t kMaxSqlInMessage = 300;

StatusCode ConstraintCode(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_FOREIGNKEY:
    case SQLITE_CONSTRAINT_ROWID:
      return StatusCode::kFailedPrecondition;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
    case SQLITE_CONSTRAINT_DATATYPE:
      return StatusCode::kInvalidArgument;
    default:
      return StatusCode::kFailedPrecondition;
  }
}

// What the reader of the message can do about it.
std::string_view Hint(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "; another connection holds the database, retry later";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "; the file is damaged or not a Cloister database, restore a backup or rebuild";
    case SQLITE_FULL:
      return "; free disk space and retry";
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return "; check that the path exists and is writable";
    default:
      return "";
  }
}

std::string ShortSql(std::string_view sql) {
  while (!sql.empty() && (sql.front() == ' ' || sql.front() == '\n')) sql.remove_prefix(1);
  if (sql.size() <= kMaxSqlInMessage) return std::string(sql);
  return std::string(sql.substr(0, kMaxSqlInMessage)) + "...";
}

}  // namespace

StatusCode SqliteStatusCode(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return StatusCode::kOk;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
      return StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::kDataLoss;
    case SQLITE_CONSTRAINT:
      return ConstraintCode(rc);
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
      return StatusCode::kInvalidArgument;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return StatusCode::kFailedPrecondition;
    default:
      return StatusCode::kInternal;
  }
}

Status SqliteStatus(sqlite3* db, int rc, std::string_view sql) {
  StatusCode code = SqliteStatusCode(rc);
  if (code == StatusCode::kOk) return Status::Ok();
  // sqlite3_errmsg describes the most recent failure on the connection, which is this one as
  // long as the caller asks right away; without a connection only the generic text is known.
  std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  message += " (sqlite code " + std::to_string(rc) + ")";
  if (!sql.empty()) message += " in `" + ShortSql(sql) + "`";
  message += Hint(rc);
  return Status(code, std::move(message));
}

}  // namespace cloister::storage::internal
