#include "cloister/storage/sqlite.h"

#include <sqlite3.h>

#include <climits>
#include <system_error>
#include <utility>

#include "cloister/core/files.h"
#include "cloister/core/log.h"
#include "icu_tokenizer.h"
#include "sqlite_error.h"

namespace cloister::storage {
namespace fs = std::filesystem;
using internal::SqliteStatus;

struct Statement::Impl {
  Impl(sqlite3_stmt* s, std::string text) : stmt(s), sql(std::move(text)) {}
  ~Impl() { sqlite3_finalize(stmt); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  sqlite3_stmt* stmt;
  std::string sql;
};

struct Database::Impl {
  Impl() = default;
  // close_v2 defers the close until the last statement is finalized, so statements that outlive
  // their Database stay valid instead of leaking the connection.
  ~Impl() { sqlite3_close_v2(db); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  sqlite3* db = nullptr;
  fs::path path;
};

namespace {

constexpr std::string_view kMemoryPath = ":memory:";

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n;") == std::string_view::npos;
}

// Filenames starting with "file:" would be read as URIs (Debian builds with SQLITE_USE_URI).
std::string SqliteFileName(const fs::path& path) {
  std::string name = path.string();
  if (path.is_relative() && name.starts_with("file:")) name = "./" + name;
  return name;
}

Status CheckLocation(const fs::path& path, const OpenOptions& options) {
  if (path.empty()) return InvalidArgument("database path is empty; give a file path or :memory:");
  if (options.busy_timeout_ms < 0) {
    return InvalidArgument("busy_timeout_ms is " + std::to_string(options.busy_timeout_ms) +
                           " for database " + path.string() + "; use 0 or more milliseconds");
  }
  if (path == kMemoryPath) return Status::Ok();
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return FailedPrecondition("database path " + path.string() +
                              " is a directory; point at a file inside it");
  }
  if (options.read_only) {
    if (!fs::exists(path, ec)) {
      return NotFound("database " + path.string() +
                      " does not exist; open it once read-write to create it");
    }
    return Status::Ok();
  }
  if (path.has_parent_path()) return EnsureDirectory(path.parent_path());
  return Status::Ok();
}

std::string_view SynchronousName(Synchronous mode) {
  switch (mode) {
    case Synchronous::kOff:
      return "OFF";
    case Synchronous::kNormal:
      return "NORMAL";
    case Synchronous::kFull:
      return "FULL";
  }
  return "NORMAL";
}

}  // namespace

// ---- Statement ----

Statement::Statement(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Statement::Statement(Statement&& other) noexcept = default;
Statement& Statement::operator=(Statement&& other) noexcept = default;
Statement::~Statement() = default;

Status Statement::CheckBind(int rc, int index) const {
  if (rc == SQLITE_OK) return Status::Ok();
  if (rc == SQLITE_RANGE) {
    return Internal("bind index " + std::to_string(index) + " is out of range; the statement has " +
                    std::to_string(sqlite3_bind_parameter_count(impl_->stmt)) + " parameters: `" +
                    impl_->sql + "`");
  }
  return SqliteStatus(sqlite3_db_handle(impl_->stmt), rc, impl_->sql);
}

Status Statement::BindInt64(int index, int64_t value) {
  return CheckBind(sqlite3_bind_int64(impl_->stmt, index, value), index);
}

Status Statement::Bind(int index, double value) {
  return CheckBind(sqlite3_bind_double(impl_->stmt, index, value), index);
}

Status Statement::Bind(int index, std::string_view text) {
  // A null data pointer would bind NULL instead of the empty string.
  const char* data = text.data() != nullptr ? text.data() : "";
  return CheckBind(
      sqlite3_bind_text64(impl_->stmt, index, data, text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
}

Status Statement::Bind(int index, Blob blob) {
  // sqlite3_bind_blob with no bytes may bind NULL; a zero-length blob is what was asked for.
  if (blob.bytes.empty()) return CheckBind(sqlite3_bind_zeroblob(impl_->stmt, index, 0), index);
  return CheckBind(sqlite3_bind_blob64(impl_->stmt, index, blob.bytes.data(), blob.bytes.size(),
                                       SQLITE_TRANSIENT),
                   index);
}

Status Statement::Bind(int index, std::nullopt_t) {
  return CheckBind(sqlite3_bind_null(impl_->stmt, index), index);
}

Result<int> Statement::ParameterIndex(std::string_view name) const {
  int index = sqlite3_bind_parameter_index(impl_->stmt, std::string(name).c_str());
  if (index == 0) {
    return InvalidArgument("the statement has no parameter named '" + std::string(name) + "': `" +
                           impl_->sql + "`");
  }
  return index;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(impl_->stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status status = SqliteStatus(sqlite3_db_handle(impl_->stmt), rc, impl_->sql);
  // Resetting releases any lock the failed statement still holds.
  sqlite3_reset(impl_->stmt);
  return status;
}

// sqlite3_reset repeats the error of a failed Step, which Step already reported.
void Statement::Reset() { sqlite3_reset(impl_->stmt); }
void Statement::ClearBindings() { sqlite3_clear_bindings(impl_->stmt); }

int Statement::ColumnCount() const { return sqlite3_column_count(impl_->stmt); }

bool Statement::ColumnIsNull(int col) const {
  return sqlite3_column_type(impl_->stmt, col) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int col) const { return sqlite3_column_int64(impl_->stmt, col); }

std::optional<int64_t> Statement::ColumnOptionalInt64(int col) const {
  if (ColumnIsNull(col)) return std::nullopt;
  return ColumnInt64(col);
}

double Statement::ColumnDouble(int col) const { return sqlite3_column_double(impl_->stmt, col); }

std::string Statement::ColumnText(int col) const {
  // The pointer first, then the size: that order is what SQLite documents as safe.
  const unsigned char* text = sqlite3_column_text(impl_->stmt, col);
  if (text == nullptr) return {};
  int size = sqlite3_column_bytes(impl_->stmt, col);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::string Statement::ColumnBlob(int col) const {
  const void* data = sqlite3_column_blob(impl_->stmt, col);
  if (data == nullptr) return {};
  int size = sqlite3_column_bytes(impl_->stmt, col);
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

std::string_view Statement::sql() const { return impl_->sql; }

// ---- Database ----

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::Database(Database&& other) noexcept = default;
Database& Database::operator=(Database&& other) noexcept = default;
Database::~Database() = default;

Result<Database> Database::Open(const fs::path& path, const OpenOptions& options) {
  CLOISTER_RETURN_IF_ERROR(CheckLocation(path, options));
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  int flags = options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(SqliteFileName(path).c_str(), &impl->db, flags, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(impl->db, rc, "").WithContext("opening database " + path.string());
  }
  Database db(std::move(impl));
  CLOISTER_RETURN_IF_ERROR(db.Configure(options));
  return db;
}

Status Database::Configure(const OpenOptions& options) {
  sqlite3_extended_result_codes(impl_->db, 1);
  sqlite3_busy_timeout(impl_->db, options.busy_timeout_ms);
  const std::string where = "opening database " + impl_->path.string();
  // SQLite reads the file lazily: this first read is where a file that is not a database shows.
  Result<int64_t> tables = QueryInt64("SELECT count(*) FROM sqlite_master");
  if (tables.status().code() == StatusCode::kDataLoss) {
    return DataLoss(impl_->path.string() +
                    " is not a SQLite database or is damaged; move it aside or restore a backup");
  }
  CLOISTER_RETURN_IF_ERROR(tables.status().WithContext(where));
  // Before anything touches chunks_fts, read-only connections and migrations included: without
  // its tokenizer FTS5 cannot open the table, and the chunks triggers fail with it.
  CLOISTER_RETURN_IF_ERROR(internal::RegisterIcuTokenizer(impl_->db).WithContext(where));
  CLOISTER_RETURN_IF_ERROR(
      Exec(options.foreign_keys ? "PRAGMA foreign_keys = ON" : "PRAGMA foreign_keys = OFF")
          .WithContext(where));
  if (options.read_only || impl_->path == kMemoryPath) return Status::Ok();
  CLOISTER_RETURN_IF_ERROR(
      Exec("PRAGMA synchronous = " + std::string(SynchronousName(options.synchronous)))
          .WithContext(where));
  if (!options.wal) return Status::Ok();
  CLOISTER_ASSIGN_OR_RETURN(Statement wal, Prepare("PRAGMA journal_mode = WAL"));
  CLOISTER_ASSIGN_OR_RETURN(bool has_row, wal.Step());
  std::string mode = has_row ? wal.ColumnText(0) : "";
  if (mode != "wal") {
    // Some file systems (network shares) cannot hold the WAL index: SQLite keeps working with a
    // rollback journal, only with readers blocking the writer, so this is a warning.
    log::Warn("storage", "write-ahead logging unavailable, using a rollback journal",
              {{"path", impl_->path.string()}, {"journal_mode", mode}});
  }
  return Status::Ok();
}

Status Database::Exec(std::string_view sql) {
  while (!IsBlank(sql)) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    if (sql.size() > INT_MAX) return InvalidArgument("SQL script over 2 GiB");
    int rc =
        sqlite3_prepare_v3(impl_->db, sql.data(), static_cast<int>(sql.size()), 0, &raw, &tail);
    if (rc != SQLITE_OK) return SqliteStatus(impl_->db, rc, sql);
    size_t used = static_cast<size_t>(tail - sql.data());
    Statement statement(std::make_unique<Statement::Impl>(raw, std::string(sql.substr(0, used))));
    sql.remove_prefix(used);
    if (raw == nullptr) {
      if (used == 0) break;  // only a comment was left
      continue;
    }
    for (;;) {
      CLOISTER_ASSIGN_OR_RETURN(bool row, statement.Step());
      if (!row) break;
    }
  }
  return Status::Ok();
}

Result<Statement> Database::Prepare(std::string_view sql) const {
  if (sql.size() > INT_MAX) return InvalidArgument("SQL statement over 2 GiB");
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(impl_->db, sql.data(), static_cast<int>(sql.size()), 0, &raw, &tail);
  if (rc != SQLITE_OK) return SqliteStatus(impl_->db, rc, sql);
  Statement statement(std::make_unique<Statement::Impl>(raw, std::string(sql)));
  if (raw == nullptr) return Internal("no SQL statement to prepare in `" + std::string(sql) + "`");
  if (!IsBlank(std::string_view(tail, static_cast<size_t>(sql.data() + sql.size() - tail)))) {
    return Internal("Prepare takes one statement and got several; use Exec for scripts: `" +
                    std::string(sql) + "`");
  }
  return statement;
}

Result<int64_t> Database::QueryInt64(std::string_view sql) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement statement, Prepare(sql));
  CLOISTER_ASSIGN_OR_RETURN(bool row, statement.Step());
  if (!row) return NotFound("query returned no row: `" + std::string(sql) + "`");
  return statement.ColumnInt64(0);
}

Status Database::BackupTo(const fs::path& dest) const {
  if (dest.empty()) return InvalidArgument("backup destination is empty");
  fs::path partial = dest;
  partial += ".partial";
  std::error_code ec;
  fs::remove(partial, ec);
  sqlite3* out = nullptr;
  int rc = sqlite3_open_v2(SqliteFileName(partial).c_str(), &out,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  auto close_out = [&] {
    sqlite3_close_v2(out);
    out = nullptr;
  };
  if (rc != SQLITE_OK) {
    Status st = SqliteStatus(out, rc, "").WithContext("creating backup " + partial.string());
    close_out();
    return st;
  }
  // The online backup API: every page in one read transaction (step -1), so the copy is the
  // database as of one instant while writers go on beside it (WAL).
  sqlite3_backup* backup = sqlite3_backup_init(out, "main", impl_->db, "main");
  if (backup == nullptr) {
    Status st = SqliteStatus(out, sqlite3_errcode(out), "").WithContext("starting backup to " + dest.string());
    close_out();
    return st;
  }
  for (;;) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    sqlite3_sleep(50);  // only while another connection holds an exclusive lock
  }
  int finished = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE || finished != SQLITE_OK) {
    Status st = SqliteStatus(out, rc != SQLITE_DONE ? rc : finished, "")
                    .WithContext("backing up " + impl_->path.string() + " to " + dest.string());
    close_out();
    fs::remove(partial, ec);
    return st;
  }
  // The copy keeps the source's journal mode in its header; fold any WAL into the file so that
  // the backup is one self-contained file.
  sqlite3_exec(out, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  rc = sqlite3_close(out);
  out = nullptr;
  if (rc != SQLITE_OK) return Internal("closing backup " + partial.string() + " failed");
  fs::path wal = partial;
  wal += "-wal";
  fs::remove(wal, ec);
  fs::path shm = partial;
  shm += "-shm";
  fs::remove(shm, ec);
  fs::rename(partial, dest, ec);
  if (ec) return FailedPrecondition("cannot move the backup to " + dest.string() + ": " + ec.message());
  return Status::Ok();
}

int64_t Database::LastInsertRowId() const { return sqlite3_last_insert_rowid(impl_->db); }
int Database::Changes() const { return sqlite3_changes(impl_->db); }
int64_t Database::TotalChanges() const { return sqlite3_total_changes64(impl_->db); }
bool Database::InTransaction() const { return sqlite3_get_autocommit(impl_->db) == 0; }
const fs::path& Database::path() const { return impl_->path; }

// ---- Transaction ----

Result<Transaction> Transaction::Begin(Database& db) {
  CLOISTER_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) (void)Rollback();
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Transaction::~Transaction() {
  if (db_ == nullptr) return;
  if (Status status = Rollback(); !status.ok()) {
    // A destructor cannot return the failure; SQLite discards an unfinished transaction when the
    // connection closes, so nothing half-written survives either way.
    log::Warn("storage", "rollback failed", {{"error", status.ToString()}});
  }
}

Status Transaction::Commit() {
  if (db_ == nullptr) return FailedPrecondition("the transaction is already finished");
  CLOISTER_RETURN_IF_ERROR(db_->Exec("COMMIT"));
  db_ = nullptr;
  return Status::Ok();
}

Status Transaction::Rollback() {
  if (db_ == nullptr) return FailedPrecondition("the transaction is already finished");
  Database* db = std::exchange(db_, nullptr);
  // Some errors (SQLITE_FULL, I/O errors) make SQLite roll back on its own.
  if (!db->InTransaction()) return Status::Ok();
  return db->Exec("ROLLBACK");
}

}  // namespace cloister::storage
