#include "cloister/storage/sqlite.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <fstream>
#include <optional>
#include <string>

#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

Database OpenMemory() {
  Result<Database> db = Database::Open(":memory:");
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return std::move(db).value();
}

// A table holding one value of any type, to bind and read back.
Database OpenWithValueTable() {
  Database db = OpenMemory();
  EXPECT_OK(db.Exec("CREATE TABLE v (x)"));
  return db;
}

TEST(StatementTest, BindsAndReadsBackIntegersDoublesAndText) {
  Database db = OpenMemory();
  ASSERT_OK(db.Exec("CREATE TABLE t (i INTEGER, small INTEGER, d REAL, s TEXT)"));
  ASSERT_OK_AND_ASSIGN(Statement insert, db.Prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4)"));
  ASSERT_OK(insert.Bind(1, int64_t{-9007199254740993}));
  ASSERT_OK(insert.Bind(2, 42));
  ASSERT_OK(insert.Bind(3, 2.5));
  ASSERT_OK(insert.Bind(4, std::string_view("héllo wörld")));
  ASSERT_OK(insert.Step());

  ASSERT_OK_AND_ASSIGN(Statement select, db.Prepare("SELECT i, small, d, s FROM t"));
  ASSERT_OK_AND_ASSIGN(bool has_row, select.Step());
  ASSERT_TRUE(has_row);
  EXPECT_EQ(select.ColumnCount(), 4);
  EXPECT_EQ(select.ColumnInt64(0), -9007199254740993);
  EXPECT_EQ(select.ColumnInt64(1), 42);
  EXPECT_DOUBLE_EQ(select.ColumnDouble(2), 2.5);
  EXPECT_EQ(select.ColumnText(3), "héllo wörld");
  ASSERT_OK_AND_ASSIGN(bool more, select.Step());
  EXPECT_FALSE(more);
}

TEST(StatementTest, BlobWithEmbeddedZeroBytesRoundTripsExactly) {
  Database db = OpenWithValueTable();
  const std::string bytes("\0a\0\xff\0", 5);
  ASSERT_OK_AND_ASSIGN(Statement insert, db.Prepare("INSERT INTO v VALUES (?1)"));
  ASSERT_OK(insert.Bind(1, Blob(bytes)));
  ASSERT_OK(insert.Step());
  ASSERT_OK_AND_ASSIGN(Statement select, db.Prepare("SELECT x, typeof(x), length(x) FROM v"));
  ASSERT_OK(select.Step());
  EXPECT_EQ(select.ColumnBlob(0), bytes);
  EXPECT_EQ(select.ColumnText(1), "blob");
  EXPECT_EQ(select.ColumnInt64(2), 5);
}

TEST(StatementTest, BlobFromByteSpanIsStoredAsBlob) {
  Database db = OpenWithValueTable();
  const std::array<std::byte, 3> bytes = {std::byte{0}, std::byte{1}, std::byte{0x80}};
  ASSERT_OK_AND_ASSIGN(Statement insert, db.Prepare("INSERT INTO v VALUES (?1)"));
  ASSERT_OK(insert.Bind(1, Blob(std::span<const std::byte>(bytes))));
  ASSERT_OK(insert.Step());
  ASSERT_OK_AND_ASSIGN(Statement select, db.Prepare("SELECT x, typeof(x) FROM v"));
  ASSERT_OK(select.Step());
  EXPECT_EQ(select.ColumnBlob(0), std::string("\0\x01\x80", 3));
  EXPECT_EQ(select.ColumnText(1), "blob");
}

TEST(StatementTest, EmptyBlobAndEmptyTextAreNotNull) {
  Database db = OpenWithValueTable();
  ASSERT_OK_AND_ASSIGN(Statement insert, db.Prepare("INSERT INTO v VALUES (?1)"));
  ASSERT_OK(insert.Bind(1, Blob(std::string_view())));
  ASSERT_OK(insert.Step());
  insert.Reset();
  ASSERT_OK(insert.Bind(1, std::string_view()));
  ASSERT_OK(insert.Step());
  ASSERT_OK_AND_ASSIGN(Statement select, db.Prepare("SELECT typeof(x) FROM v ORDER BY rowid"));
  ASSERT_OK(select.Step());
  EXPECT_EQ(select.ColumnText(0), "blob");
  ASSERT_OK(select.Step());
  EXPECT_EQ(select.ColumnText(0), "text");
}

TEST(StatementTest, NulloptAndEmptyOptionalBindNull) {
  Database db = OpenWithValueTable();
  ASSERT_OK_AND_ASSIGN(Statement insert, db.Prepare("INSERT INTO v VALUES (?1)"));
  ASSERT_OK(insert.Bind(1, std::nullopt));
  ASSERT_OK(insert.Step());
  insert.Reset();
  ASSERT_OK(insert.Bind(1, std::optional<int64_t>()));
  ASSERT_OK(insert.Step());
  insert.Reset();
  ASSERT_OK(insert.Bind(1, std::optional<int64_t>(7)));
  ASSERT_OK(insert.Step());
  ASSERT_OK_AND_ASSIGN(Statement select, db.Prepare("SELECT x FROM v ORDER BY rowid"));
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK(select.Step());
    EXPECT_TRUE(select.ColumnIsNull(0));
    EXPECT_EQ(select.ColumnOptionalInt64(0), std::nullopt);
    EXPECT_EQ(select.ColumnText(0), "");
    EXPECT_EQ(select.ColumnBlob(0), "");
  }
  ASSERT_OK(select.Step());
  EXPECT_FALSE(select.ColumnIsNull(0));
  EXPECT_EQ(select.ColumnOptionalInt64(0), 7);
}

TEST(StatementTest, NamedParameterResolvesToItsIndex) {
  Database db = OpenMemory();
  ASSERT_OK_AND_ASSIGN(Statement st, db.Prepare("SELECT :first + :second"));
  ASSERT_OK_AND_ASSIGN(int second, st.ParameterIndex(":second"));
  EXPECT_EQ(second, 2);
  ASSERT_OK(st.Bind(1, 40));
  ASSERT_OK(st.Bind(second, 2));
  ASSERT_OK(st.Step());
  EXPECT_EQ(st.ColumnInt64(0), 42);
}

TEST(StatementTest, UnknownNamedParameterIsInvalidArgumentNamingIt) {
  Database db = OpenMemory();
  ASSERT_OK_AND_ASSIGN(Statement st, db.Prepare("SELECT :first"));
  Result<int> index = st.ParameterIndex(":missing");
  EXPECT_EQ(CODE_OF(index), StatusCode::kInvalidArgument);
  EXPECT_NE(index.status().message().find(":missing"), std::string::npos);
}

TEST(StatementTest, BindingOutOfRangeIsInternalNamingTheIndex) {
  Database db = OpenMemory();
  ASSERT_OK_AND_ASSIGN(Statement st, db.Prepare("SELECT ?1"));
  Status status = st.Bind(2, 1);
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("bind index 2"), std::string::npos) << status.message();
}

TEST(StatementTest, ResetRunsTheStatementAgainWithNewBindings) {
  Database db = OpenMemory();
  ASSERT_OK_AND_ASSIGN(Statement st, db.Prepare("SELECT ?1 * 2"));
  ASSERT_OK(st.Bind(1, 3));
  ASSERT_OK(st.Step());
  EXPECT_EQ(st.ColumnInt64(0), 6);
  st.Reset();
  ASSERT_OK(st.Bind(1, 5));
  ASSERT_OK(st.Step());
  EXPECT_EQ(st.ColumnInt64(0), 10);
  st.Reset();
  st.ClearBindings();
  ASSERT_OK(st.Step());
  EXPECT_TRUE(st.ColumnIsNull(0));
}

TEST(DatabaseTest, PrepareWithASyntaxErrorIsInternalNamingTheSql) {
  Database db = OpenMemory();
  Result<Statement> st = db.Prepare("SELEKT 1");
  EXPECT_EQ(CODE_OF(st), StatusCode::kInternal);
  EXPECT_NE(st.status().message().find("SELEKT 1"), std::string::npos);
}

TEST(DatabaseTest, PrepareWithTwoStatementsIsInternal) {
  Database db = OpenMemory();
  EXPECT_EQ(CODE_OF(db.Prepare("SELECT 1; SELECT 2")), StatusCode::kInternal);
  EXPECT_OK(db.Prepare("SELECT 1;  \n"));
}

TEST(DatabaseTest, PrepareOfEmptySqlIsInternal) {
  Database db = OpenMemory();
  EXPECT_EQ(CODE_OF(db.Prepare("")), StatusCode::kInternal);
  EXPECT_EQ(CODE_OF(db.Prepare("  -- only a comment")), StatusCode::kInternal);
}

TEST(DatabaseTest, ExecRunsEveryStatementOfAScript) {
  Database db = OpenMemory();
  ASSERT_OK(
      db.Exec("CREATE TABLE t (x); INSERT INTO t VALUES (1);\n"
              "-- a comment\nINSERT INTO t VALUES (2); SELECT * FROM t;"));
  ASSERT_OK_AND_ASSIGN(int64_t sum, db.QueryInt64("SELECT sum(x) FROM t"));
  EXPECT_EQ(sum, 3);
}

TEST(DatabaseTest, ExecStopsAtTheFailingStatementAndNamesIt) {
  Database db = OpenMemory();
  Status status = db.Exec("CREATE TABLE t (x); INSERT INTO missing VALUES (1); CREATE TABLE u (y)");
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_NE(status.message().find("INSERT INTO missing"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("no such table"), std::string::npos) << status.message();
  EXPECT_OK(db.QueryInt64("SELECT count(*) FROM t"));
  EXPECT_FALSE(db.QueryInt64("SELECT count(*) FROM u").ok());
}

TEST(DatabaseTest, QueryInt64WithoutARowIsNotFound) {
  Database db = OpenWithValueTable();
  EXPECT_EQ(CODE_OF(db.QueryInt64("SELECT x FROM v")), StatusCode::kNotFound);
}

TEST(DatabaseTest, LastInsertRowIdAndChangesDescribeTheLastStatement) {
  Database db = OpenWithValueTable();
  ASSERT_OK(db.Exec("INSERT INTO v VALUES (1), (2), (3)"));
  EXPECT_EQ(db.LastInsertRowId(), 3);
  ASSERT_OK(db.Exec("UPDATE v SET x = 0 WHERE x >= 2"));
  EXPECT_EQ(db.Changes(), 2);
}

TEST(DatabaseTest, UniqueViolationIsFailedPrecondition) {
  Database db = OpenMemory();
  ASSERT_OK(db.Exec("CREATE TABLE t (x UNIQUE); INSERT INTO t VALUES (1)"));
  Status status = db.Exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("UNIQUE"), std::string::npos) << status.message();
}

TEST(DatabaseTest, CheckAndNotNullViolationsAreInvalidArgument) {
  Database db = OpenMemory();
  ASSERT_OK(db.Exec("CREATE TABLE t (x NOT NULL CHECK (x > 0))"));
  EXPECT_EQ(db.Exec("INSERT INTO t VALUES (-1)").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(db.Exec("INSERT INTO t VALUES (NULL)").code(), StatusCode::kInvalidArgument);
}

TEST(DatabaseTest, ForeignKeysAreEnforcedByDefault) {
  Database db = OpenMemory();
  ASSERT_OK(
      db.Exec("CREATE TABLE p (id INTEGER PRIMARY KEY);"
              "CREATE TABLE c (p INTEGER REFERENCES p (id))"));
  EXPECT_EQ(db.Exec("INSERT INTO c VALUES (9)").code(), StatusCode::kFailedPrecondition);
}

TEST(DatabaseTest, ForeignKeysCanBeTurnedOff) {
  OpenOptions options;
  options.foreign_keys = false;
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:", options));
  ASSERT_OK(
      db.Exec("CREATE TABLE p (id INTEGER PRIMARY KEY);"
              "CREATE TABLE c (p INTEGER REFERENCES p (id))"));
  EXPECT_OK(db.Exec("INSERT INTO c VALUES (9)"));
}

TEST(DatabaseTest, FileDatabaseUsesWriteAheadLoggingAndNormalSync) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "wal.db"));
  ASSERT_OK_AND_ASSIGN(Statement mode, db.Prepare("PRAGMA journal_mode"));
  ASSERT_OK(mode.Step());
  EXPECT_EQ(mode.ColumnText(0), "wal");
  ASSERT_OK_AND_ASSIGN(int64_t synchronous, db.QueryInt64("PRAGMA synchronous"));
  EXPECT_EQ(synchronous, 1);  // NORMAL
  ASSERT_OK_AND_ASSIGN(int64_t timeout, db.QueryInt64("PRAGMA busy_timeout"));
  EXPECT_EQ(timeout, 5000);
}

TEST(DatabaseTest, WalCanBeTurnedOffAndSyncSetToFull) {
  TempDir dir;
  OpenOptions options;
  options.wal = false;
  options.synchronous = Synchronous::kFull;
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "journal.db", options));
  ASSERT_OK_AND_ASSIGN(Statement mode, db.Prepare("PRAGMA journal_mode"));
  ASSERT_OK(mode.Step());
  EXPECT_EQ(mode.ColumnText(0), "delete");
  ASSERT_OK_AND_ASSIGN(int64_t synchronous, db.QueryInt64("PRAGMA synchronous"));
  EXPECT_EQ(synchronous, 2);  // FULL
}

TEST(DatabaseTest, OpenCreatesMissingParentDirectories) {
  TempDir dir;
  std::filesystem::path path = dir.path() / "a" / "b" / "catalog.db";
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(path));
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(db.path(), path);
}

TEST(DatabaseTest, FileThatIsNotADatabaseIsDataLossNamingThePath) {
  TempDir dir;
  std::filesystem::path path = dir / "notes.db";
  std::ofstream(path) << "These are my notes, not a database. They are long enough to fill the "
                         "header SQLite looks at when it opens a file.\n";
  Result<Database> db = Database::Open(path);
  ASSERT_EQ(CODE_OF(db), StatusCode::kDataLoss) << db.status().ToString();
  EXPECT_NE(db.status().message().find(path.string()), std::string::npos);
  EXPECT_NE(db.status().message().find("not a SQLite database"), std::string::npos);
}

TEST(DatabaseTest, DamagedPageIsDataLoss) {
  TempDir dir;
  std::filesystem::path path = dir / "damaged.db";
  {
    OpenOptions options;
    options.wal = false;  // keep every page in the main file
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(path, options));
    ASSERT_OK(db.Exec("CREATE TABLE t (x); INSERT INTO t VALUES (randomblob(100))"));
  }
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096);  // page 2 holds table t
    const std::string garbage(4096, '\xa5');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(path));
  EXPECT_EQ(CODE_OF(db.QueryInt64("SELECT count(*) FROM t")), StatusCode::kDataLoss);
}

TEST(DatabaseTest, EmptyPathOrNegativeTimeoutIsInvalidArgument) {
  EXPECT_EQ(CODE_OF(Database::Open("")), StatusCode::kInvalidArgument);
  OpenOptions options;
  options.busy_timeout_ms = -1;
  EXPECT_EQ(CODE_OF(Database::Open(":memory:", options)), StatusCode::kInvalidArgument);
}

TEST(DatabaseTest, DirectoryPathIsFailedPreconditionNamingIt) {
  TempDir dir;
  Result<Database> db = Database::Open(dir.path());
  EXPECT_EQ(CODE_OF(db), StatusCode::kFailedPrecondition);
  EXPECT_NE(db.status().message().find(dir.path().string()), std::string::npos);
}

TEST(DatabaseTest, ParentThatIsAFileIsFailedPrecondition) {
  TempDir dir;
  std::ofstream(dir / "file") << "x";
  EXPECT_EQ(CODE_OF(Database::Open(dir.path() / "file" / "catalog.db")),
            StatusCode::kFailedPrecondition);
}

TEST(DatabaseTest, ReadOnlyOpenOfAMissingFileIsNotFound) {
  TempDir dir;
  OpenOptions options;
  options.read_only = true;
  Result<Database> db = Database::Open(dir / "missing.db", options);
  EXPECT_EQ(CODE_OF(db), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing.db"));
}

TEST(DatabaseTest, ReadOnlyDatabaseReadsButRefusesWritesWithFailedPrecondition) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "ro.db"));
    ASSERT_OK(db.Exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)"));
  }
  OpenOptions options;
  options.read_only = true;
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "ro.db", options));
  EXPECT_OK(db.QueryInt64("SELECT x FROM t"));
  EXPECT_EQ(db.Exec("INSERT INTO t VALUES (2)").code(), StatusCode::kFailedPrecondition);
}

TEST(TransactionTest, UncommittedTransactionRollsBackOnDestruction) {
  Database db = OpenWithValueTable();
  {
    ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(db));
    ASSERT_OK(db.Exec("INSERT INTO v VALUES (1)"));
    EXPECT_TRUE(db.InTransaction());
  }
  EXPECT_FALSE(db.InTransaction());
  ASSERT_OK_AND_ASSIGN(int64_t rows, db.QueryInt64("SELECT count(*) FROM v"));
  EXPECT_EQ(rows, 0);
}

TEST(TransactionTest, CommittedChangesAreSeenByAnotherConnection) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(Database writer, Database::Open(dir / "tx.db"));
  ASSERT_OK(writer.Exec("CREATE TABLE v (x)"));
  ASSERT_OK_AND_ASSIGN(Database reader, Database::Open(dir / "tx.db"));
  {
    ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(writer));
    ASSERT_OK(writer.Exec("INSERT INTO v VALUES (1)"));
    ASSERT_OK_AND_ASSIGN(int64_t before, reader.QueryInt64("SELECT count(*) FROM v"));
    EXPECT_EQ(before, 0);
    ASSERT_OK(tx.Commit());
  }
  ASSERT_OK_AND_ASSIGN(int64_t after, reader.QueryInt64("SELECT count(*) FROM v"));
  EXPECT_EQ(after, 1);
}

TEST(TransactionTest, ExplicitRollbackDiscardsChanges) {
  Database db = OpenWithValueTable();
  ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(db));
  ASSERT_OK(db.Exec("INSERT INTO v VALUES (1)"));
  ASSERT_OK(tx.Rollback());
  ASSERT_OK_AND_ASSIGN(int64_t rows, db.QueryInt64("SELECT count(*) FROM v"));
  EXPECT_EQ(rows, 0);
}

TEST(TransactionTest, FinishingTwiceIsFailedPrecondition) {
  Database db = OpenWithValueTable();
  ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(db));
  ASSERT_OK(tx.Commit());
  EXPECT_EQ(tx.Commit().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(tx.Rollback().code(), StatusCode::kFailedPrecondition);
}

TEST(TransactionTest, BeginInsideATransactionIsInternal) {
  Database db = OpenWithValueTable();
  ASSERT_OK_AND_ASSIGN(Transaction outer, Transaction::Begin(db));
  EXPECT_EQ(CODE_OF(Transaction::Begin(db)), StatusCode::kInternal);
}

TEST(TransactionTest, MovedTransactionCommitsOnceAndTheSourceDoesNothing) {
  Database db = OpenWithValueTable();
  ASSERT_OK_AND_ASSIGN(Transaction first, Transaction::Begin(db));
  ASSERT_OK(db.Exec("INSERT INTO v VALUES (1)"));
  Transaction second = std::move(first);
  EXPECT_EQ(first.Commit().code(), StatusCode::kFailedPrecondition);  // NOLINT: moved from
  EXPECT_TRUE(db.InTransaction());
  ASSERT_OK(second.Commit());
  ASSERT_OK_AND_ASSIGN(int64_t rows, db.QueryInt64("SELECT count(*) FROM v"));
  EXPECT_EQ(rows, 1);
}

class BusyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(holder_, Database::Open(dir_ / "busy.db"));
    ASSERT_OK(holder_->Exec("CREATE TABLE v (x); INSERT INTO v VALUES (1)"));
    OpenOptions impatient;
    impatient.busy_timeout_ms = 50;
    ASSERT_OK_AND_ASSIGN(other_, Database::Open(dir_ / "busy.db", impatient));
  }

  TempDir dir_;
  std::optional<Database> holder_;  // takes the write lock
  std::optional<Database> other_;   // waits at most 50 ms
};

TEST_F(BusyTest, SecondWriterGetsUnavailableWhileTheFirstHoldsTheWriteLock) {
  ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(*holder_));
  Result<Transaction> second = Transaction::Begin(*other_);
  EXPECT_EQ(CODE_OF(second), StatusCode::kUnavailable) << second.status().ToString();
  EXPECT_NE(second.status().message().find("retry"), std::string::npos);
  EXPECT_EQ(other_->Exec("INSERT INTO v VALUES (2)").code(), StatusCode::kUnavailable);
}

TEST_F(BusyTest, WriterSucceedsOnceTheLockIsReleased) {
  {
    ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(*holder_));
    ASSERT_OK(holder_->Exec("INSERT INTO v VALUES (2)"));
    ASSERT_OK(tx.Commit());
  }
  EXPECT_OK(other_->Exec("INSERT INTO v VALUES (3)"));
}

TEST_F(BusyTest, ReaderIsNotBlockedByAWriterInWalMode) {
  ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(*holder_));
  ASSERT_OK(holder_->Exec("INSERT INTO v VALUES (2)"));
  ASSERT_OK_AND_ASSIGN(int64_t rows, other_->QueryInt64("SELECT count(*) FROM v"));
  EXPECT_EQ(rows, 1);
}

}  // namespace
}  // namespace cloister::storage
