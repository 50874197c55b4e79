// A small RAII layer over SQLite: connections, prepared statements and transactions that speak
// Status instead of result codes.
//
//   CLOISTER_ASSIGN_OR_RETURN(Database db, Database::Open(dir / "catalog.db", OpenOptions{}));
//   CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
//   CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare("INSERT INTO t(a, b) VALUES (?1, ?2)"));
//   CLOISTER_RETURN_IF_ERROR(st.Bind(1, int64_t{7}));
//   CLOISTER_RETURN_IF_ERROR(st.Bind(2, std::nullopt));
//   CLOISTER_RETURN_IF_ERROR(st.Step().status());
//   CLOISTER_RETURN_IF_ERROR(tx.Commit());
//
// How SQLite errors become Status codes (messages carry sqlite3_errmsg and the SQL that failed):
//   SQLITE_BUSY / SQLITE_LOCKED (after the busy timeout)   kUnavailable: retry later
//   SQLITE_CORRUPT / SQLITE_NOTADB                         kDataLoss: restore a backup or rebuild
//   UNIQUE, PRIMARY KEY, FOREIGN KEY constraint failures   kFailedPrecondition: conflicts with, or
//                                                          refers to, stored rows
//   CHECK, NOT NULL, datatype constraint failures, TOOBIG  kInvalidArgument: the value is malformed
//   SQLITE_CANTOPEN / SQLITE_PERM / SQLITE_READONLY        kFailedPrecondition: fix the path or
//                                                          permissions
//   SQLITE_FULL                                            kUnavailable: free disk space
//   anything else (syntax errors, misuse, NOMEM, IOERR)    kInternal
//
// Database, Statement and Transaction are move-only; a moved-from object may only be destroyed
// or assigned to.
//
// Thread safety: a Database and its Statements and Transactions are used by one thread at a
// time. Open one Database per thread; SQLite runs in serialized mode and WAL lets readers and
// one writer on separate connections proceed together.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cloister/core/status.h"

namespace cloister::storage {

// PRAGMA synchronous. kNormal is durable in WAL mode except for the last transactions before a
// power loss (never corruption); kFull also survives that at the cost of an fsync per commit.
enum class Synchronous { kOff, kNormal, kFull };

struct OpenOptions {
  // How long a statement waits for another connection's lock before failing with kUnavailable.
  int busy_timeout_ms = 5000;
  // Write-ahead logging: readers do not block the writer. Ignored for ":memory:" and read_only.
  bool wal = true;
  Synchronous synchronous = Synchronous::kNormal;
  // Enforce REFERENCES clauses (cascading deletes rely on it).
  bool foreign_keys = true;
  // Open an existing database without write access; a missing file is kNotFound.
  bool read_only = false;
};

// A value to bind as a BLOB rather than TEXT. Views the bytes: they must stay alive until the
// Bind call returns (SQLite copies them).
struct Blob {
  explicit Blob(std::string_view b) : bytes(b) {}
  explicit Blob(std::span<const std::byte> b)
      : bytes(reinterpret_cast<const char*>(b.data()), b.size()) {}
  std::string_view bytes;
};

// A prepared statement. Move-only; finalized by the destructor. Parameter indexes start at 1,
// column indexes at 0. Binding out of range or reading a column that does not exist is a
// programmer error: Bind returns kInternal, the column getters return 0 / "" / NULL.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  ~Statement();

  // Every integer type binds as a 64-bit INTEGER (bool as 0/1).
  template <std::integral T>
  Status Bind(int index, T value) {
    return BindInt64(index, static_cast<int64_t>(value));
  }
  Status Bind(int index, double value);
  // TEXT, copied. The text must be UTF-8.
  Status Bind(int index, std::string_view text);
  Status Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Status Bind(int index, const std::string& text) { return Bind(index, std::string_view(text)); }
  // BLOB, copied; embedded zero bytes are kept.
  Status Bind(int index, Blob blob);
  // NULL.
  Status Bind(int index, std::nullopt_t);
  // The value, or NULL when empty.
  template <typename T>
  Status Bind(int index, const std::optional<T>& value) {
    return value.has_value() ? Bind(index, *value) : Bind(index, std::nullopt);
  }

  // The index of a named parameter (":name", "@name", "$name", with its prefix), or
  // kInvalidArgument naming the parameter and the SQL when the statement has no such parameter.
  Result<int> ParameterIndex(std::string_view name) const;

  // Runs the statement one step: true when a row is available through the Column getters, false
  // when done. Errors are mapped as described at the top of this file; the statement is reset.
  Result<bool> Step();
  // Rewinds the statement so it can run again. Bound values stay unless ClearBindings is called.
  void Reset();
  void ClearBindings();

  int ColumnCount() const;
  bool ColumnIsNull(int col) const;
  int64_t ColumnInt64(int col) const;
  // std::nullopt for NULL.
  std::optional<int64_t> ColumnOptionalInt64(int col) const;
  double ColumnDouble(int col) const;
  // The value as UTF-8 text; "" for NULL.
  std::string ColumnText(int col) const;
  // The value's bytes, zero bytes included; "" for NULL.
  std::string ColumnBlob(int col) const;

  // The SQL text the statement was prepared from.
  std::string_view sql() const;

 private:
  friend class Database;
  struct Impl;
  explicit Statement(std::unique_ptr<Impl> impl);
  Status BindInt64(int index, int64_t value);
  Status CheckBind(int rc, int index) const;

  std::unique_ptr<Impl> impl_;
};

// One connection to a database file. Move-only; closed by the destructor. A Statement may be
// destroyed after its Database (SQLite closes the connection once the last statement is
// finalized) but must not be used after it.
class Database {
 public:
  // Opens (creating unless read_only) the database at `path`, creating its parent directory,
  // then applies `options`. ":memory:" opens a private in-memory database. Every connection,
  // read-only ones included, has the FTS5 tokenizer "cloister_icu" that chunks_fts uses (ICU
  // word segmentation with case and diacritic folding), so any FTS5 table may name it.
  // Errors, each naming the path: kInvalidArgument for an empty path or a negative timeout;
  // kNotFound for a missing file with read_only; kFailedPrecondition when the directory or file
  // cannot be created or opened; kDataLoss when the file is not a SQLite database (or is
  // corrupt); kUnavailable when another connection holds a lock past the busy timeout.
  static Result<Database> Open(const std::filesystem::path& path,
                               const OpenOptions& options = OpenOptions{});

  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  ~Database();

  // Runs a script of zero or more statements separated by ';', discarding any rows. Stops at the
  // first failing statement and names it in the Status.
  Status Exec(std::string_view sql);
  // Compiles exactly one statement. kInternal (a programmer error) when the SQL is empty, has a
  // syntax error, names a missing table, or holds more than one statement.
  Result<Statement> Prepare(std::string_view sql) const;
  // Runs a query without parameters and returns the first column of its first row as an integer,
  // e.g. "PRAGMA user_version". kNotFound when it returns no row.
  Result<int64_t> QueryInt64(std::string_view sql) const;

  // Copies the whole database, as of one instant, into a new file at `dest` (replaced if it
  // exists) with SQLite's online backup API; other connections may read and write meanwhile.
  // Written beside `dest` and renamed into place, so `dest` is never a partial copy.
  // kFailedPrecondition when `dest` cannot be written.
  Status BackupTo(const std::filesystem::path& dest) const;

  // The rowid of the most recent successful INSERT on this connection (0 if none).
  int64_t LastInsertRowId() const;
  // Rows changed by the most recent INSERT, UPDATE or DELETE on this connection.
  int Changes() const;
  // Rows changed by this connection since it opened (with PRAGMA data_version, which counts
  // other connections' commits, this tells whether anything changed since a cached read).
  int64_t TotalChanges() const;
  // True while a transaction is open on this connection.
  bool InTransaction() const;
  // The path given to Open.
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  Status Configure(const OpenOptions& options);

  std::unique_ptr<Impl> impl_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back by the destructor unless committed. Move-only. The
// Database must outlive the Transaction and stay where it is while the transaction is open.
// Transactions do not nest: beginning one inside another is kInternal.
class Transaction {
 public:
  // Takes the write lock at once, so a conflicting writer fails here (kUnavailable after the
  // busy timeout) rather than halfway through.
  static Result<Transaction> Begin(Database& db);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&& other) noexcept;
  ~Transaction();

  // Makes the changes durable. On error the transaction stays open and the destructor rolls it
  // back. Committing twice is kFailedPrecondition.
  Status Commit();
  // Discards the changes now instead of at destruction. kFailedPrecondition if already finished.
  Status Rollback();

 private:
  explicit Transaction(Database* db) : db_(db) {}

  Database* db_ = nullptr;  // null once committed, rolled back or moved from
};

}  // namespace cloister::storage
