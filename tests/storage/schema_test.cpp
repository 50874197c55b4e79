#include "cloister/storage/schema.h"

#include <gtest/gtest.h>

#include <string>

#include "cloister/storage/catalog.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

bool TableExists(const Database& db, const std::string& name) {
  Result<int64_t> count =
      db.QueryInt64("SELECT count(*) FROM sqlite_master WHERE name = '" + name + "'");
  return count.ok() && *count == 1;
}

// A database at schema version 1 holding one document with two chunks, written with plain SQL
// the way an older Cloister would have.
void WriteVersionOneDatabase(const std::filesystem::path& path) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(path));
  ASSERT_OK(Migrate(db, 1));
  ASSERT_OK(
      db.Exec("INSERT INTO documents (id, collection_id, path, content_hash, title, status) "
              "VALUES (1, 1, '/docs/old.txt', 'h1', 'Old notes', 'ready');"
              "INSERT INTO chunks (document_id, ordinal, text) VALUES "
              "(1, 0, 'The lighthouse keeper logs every storm.'),"
              "(1, 1, 'Supplies arrive by boat each spring.');"));
}

// A database at schema version 2 holding a ready document with one attachment, their chunks and
// a finished job, written with plain SQL the way an older Cloister would have.
void WriteVersionTwoDatabase(const std::filesystem::path& path) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(path));
  ASSERT_OK(Migrate(db, 2));
  ASSERT_OK(
      db.Exec("INSERT INTO jobs (id, path, collection_id, state) "
              "VALUES (1, '/mail/a.eml', 1, 'done');"
              "INSERT INTO documents (id, collection_id, path, content_hash, title, status) "
              "VALUES (1, 1, '/mail/a.eml', 'h1', 'Harbour news', 'ready');"
              "INSERT INTO documents (id, collection_id, parent_id, path, title, status) "
              "VALUES (2, 1, 1, '/mail/a.eml#tide.pdf', 'Tide table', 'ready');"
              "UPDATE jobs SET document_id = 1;"
              "INSERT INTO chunks (document_id, ordinal, text) VALUES "
              "(1, 0, 'The harbour opens at dawn.'),"
              "(2, 0, 'High tide at noon.');"));
}

// A database at schema version 3, whose full-text index used unicode61, holding chunks in
// English, Chinese and Thai, written with plain SQL the way an older Cloister would have.
void WriteVersionThreeDatabase(const std::filesystem::path& path) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(path));
  ASSERT_OK(Migrate(db, 3));
  ASSERT_OK(
      db.Exec("INSERT INTO documents (id, collection_id, path, title, status) "
              "VALUES (1, 1, '/docs/trip.txt', 'Trip', 'ready');"
              "INSERT INTO chunks (id, document_id, ordinal, text) VALUES "
              "(1, 1, 0, 'The ferry leaves at nine.'),"
              "(2, 1, 1, '我们明天在北京开会讨论预算'),"
              "(3, 1, 2, 'ประชุมงบประมาณพรุ่งนี้ที่กรุงเทพ');"));
  // unicode61 saw each run of Chinese or Thai as one word, so the words inside are not found.
  ASSERT_OK_AND_ASSIGN(
      int64_t found,
      db.QueryInt64("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH '北京'"));
  ASSERT_EQ(found, 0);
}

TEST(MigrateTest, NewDatabaseReachesTheCurrentVersionWithEveryTable) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  ASSERT_OK(Migrate(db));
  ASSERT_OK_AND_ASSIGN(int version, SchemaVersion(db));
  EXPECT_EQ(version, kSchemaVersion);
  for (const char* table :
       {"collections", "documents", "chunks", "embeddings", "jobs", "chunks_fts"}) {
    EXPECT_TRUE(TableExists(db, table)) << table;
  }
  ASSERT_OK_AND_ASSIGN(int64_t defaults,
                       db.QueryInt64("SELECT count(*) FROM collections WHERE name = 'default'"));
  EXPECT_EQ(defaults, 1);
}

TEST(MigrateTest, MigratingACurrentDatabaseAgainChangesNothing) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  ASSERT_OK(Migrate(db));
  ASSERT_OK(Migrate(db));
  ASSERT_OK_AND_ASSIGN(int64_t collections, db.QueryInt64("SELECT count(*) FROM collections"));
  EXPECT_EQ(collections, 1);
}

TEST(MigrateTest, TargetVersionOneStopsBeforeTheFullTextIndex) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  ASSERT_OK(Migrate(db, 1));
  ASSERT_OK_AND_ASSIGN(int version, SchemaVersion(db));
  EXPECT_EQ(version, 1);
  EXPECT_TRUE(TableExists(db, "chunks"));
  EXPECT_FALSE(TableExists(db, "chunks_fts"));
}

TEST(MigrateTest, DatabaseFromVersionOneOpensAndMigratesToCurrent) {
  TempDir dir;
  WriteVersionOneDatabase(dir / "v1.db");
  ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(dir / "v1.db"));
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "v1.db"));
  ASSERT_OK_AND_ASSIGN(int version, SchemaVersion(db));
  EXPECT_EQ(version, kSchemaVersion);
  // The chunks written before the index existed are found through it.
  ASSERT_OK_AND_ASSIGN(std::vector<LexicalHit> hits, catalog.SearchLexical("storm", 5));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].path, "/docs/old.txt");
  EXPECT_EQ(hits[0].title, "Old notes");
  ASSERT_OK_AND_ASSIGN(hits, catalog.SearchLexical("boat", 5));
  EXPECT_EQ(hits.size(), 1u);
}

TEST(MigrateTest, DatabaseFromVersionTwoGainsDocumentJobsAndNamesKeepingItsData) {
  TempDir dir;
  WriteVersionTwoDatabase(dir / "v2.db");
  ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(dir / "v2.db"));
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "v2.db"));
    ASSERT_OK_AND_ASSIGN(int version, SchemaVersion(db));
    EXPECT_EQ(version, kSchemaVersion);
    EXPECT_TRUE(TableExists(db, "documents_job"));
    EXPECT_TRUE(TableExists(db, "jobs_path"));
  }
  ASSERT_OK_AND_ASSIGN(Document mail, catalog.GetDocument(1));
  EXPECT_EQ(mail.title, "Harbour news");
  EXPECT_EQ(mail.job_id, std::nullopt);
  EXPECT_EQ(mail.name, "");
  ASSERT_OK_AND_ASSIGN(Document attachment, catalog.GetDocument(2));
  EXPECT_EQ(attachment.parent_id, 1);
  ASSERT_OK_AND_ASSIGN(std::vector<LexicalHit> hits, catalog.SearchLexical("tide", 5));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].document_id, 2);
  ASSERT_OK_AND_ASSIGN(Job job, catalog.GetJob(1));
  EXPECT_EQ(job.document_id, 1);

  // The new columns work on the migrated file.
  mail.job_id = 1;
  mail.name = "a.eml";
  ASSERT_OK(catalog.UpdateDocument(mail));
  ASSERT_OK_AND_ASSIGN(Document stored, catalog.GetDocument(1));
  EXPECT_EQ(stored.job_id, 1);
  EXPECT_EQ(stored.name, "a.eml");
  mail.job_id = 99;
  EXPECT_EQ(catalog.UpdateDocument(mail).code(), StatusCode::kFailedPrecondition);
}

TEST(MigrateTest, DatabaseFromVersionThreeIsReindexedSoWordsInEveryLanguageAreFound) {
  TempDir dir;
  WriteVersionThreeDatabase(dir / "v3.db");
  ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(dir / "v3.db"));
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "v3.db"));
    ASSERT_OK_AND_ASSIGN(int version, SchemaVersion(db));
    EXPECT_EQ(version, kSchemaVersion);
    ASSERT_OK_AND_ASSIGN(int64_t icu, db.QueryInt64("SELECT count(*) FROM sqlite_master WHERE "
                                                    "name = 'chunks_fts' AND sql LIKE "
                                                    "'%cloister_icu%'"));
    EXPECT_EQ(icu, 1);
  }
  for (const char* word : {"ferry", "北京", "预算", "กรุงเทพ"}) {
    ASSERT_OK_AND_ASSIGN(std::vector<LexicalHit> hits, catalog.SearchLexical(word, 5));
    EXPECT_EQ(hits.size(), 1u) << word;
  }

  // The triggers were made anew with the table: new, changed and deleted chunks stay in step.
  std::vector<Chunk> chunks(1);
  chunks[0].text = "会議は東京で行います";
  ASSERT_OK(catalog.ReplaceChunks(1, chunks));
  ASSERT_OK_AND_ASSIGN(std::vector<LexicalHit> hits, catalog.SearchLexical("東京", 5));
  EXPECT_EQ(hits.size(), 1u);
  ASSERT_OK_AND_ASSIGN(hits, catalog.SearchLexical("北京 ferry", 5));
  EXPECT_TRUE(hits.empty());
}

TEST(MigrateTest, NewerDatabaseIsFailedPreconditionNamingItsVersionAndPath) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "future.db"));
    ASSERT_OK(Migrate(db));
    ASSERT_OK(db.Exec("PRAGMA user_version = 7"));
  }
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "future.db"));
  Status status = Migrate(db);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("schema version 7"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("supports up to " + std::to_string(kSchemaVersion)),
            std::string::npos);
  EXPECT_NE(status.message().find((dir / "future.db").string()), std::string::npos);

  Result<Catalog> catalog = Catalog::Open(dir / "future.db");
  EXPECT_EQ(CODE_OF(catalog), StatusCode::kFailedPrecondition);
  EXPECT_NE(catalog.status().message().find("upgrade Cloister"), std::string::npos);
}

TEST(MigrateTest, TargetOutsideTheKnownVersionsIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  EXPECT_EQ(Migrate(db, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Migrate(db, kSchemaVersion + 1).code(), StatusCode::kInvalidArgument);
}

TEST(MigrateTest, AskingForAnOlderVersionThanStoredIsFailedPrecondition) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  ASSERT_OK(Migrate(db));
  Status status = Migrate(db, 1);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("only go forward"), std::string::npos);
}

TEST(MigrateTest, SqliteDatabaseOfAnotherProgramIsFailedPrecondition) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "other.db"));
    ASSERT_OK(db.Exec("CREATE TABLE recipes (name TEXT)"));
  }
  Result<Catalog> catalog = Catalog::Open(dir / "other.db");
  EXPECT_EQ(CODE_OF(catalog), StatusCode::kFailedPrecondition);
  EXPECT_NE(catalog.status().message().find("not a Cloister catalog"), std::string::npos);
}

TEST(MigrateTest, FailedMigrationLeavesTheDatabaseAtThePreviousVersion) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  ASSERT_OK(Migrate(db, 1));
  ASSERT_OK(db.Exec("CREATE TABLE chunks_fts (x)"));  // makes version 2 fail
  Status status = Migrate(db);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("schema version 2"), std::string::npos) << status.message();
  ASSERT_OK_AND_ASSIGN(int version, SchemaVersion(db));
  EXPECT_EQ(version, 1);
  EXPECT_FALSE(TableExists(db, "chunks_fts_after_insert"));
  EXPECT_FALSE(db.InTransaction());
}

TEST(MigrateTest, MigrationWhileAnotherWriterHoldsTheLockIsUnavailable) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(Database holder, Database::Open(dir / "locked.db"));
  ASSERT_OK(holder.Exec("PRAGMA user_version = 0"));
  ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(holder));
  OpenOptions impatient;
  impatient.busy_timeout_ms = 50;
  Result<Catalog> catalog = Catalog::Open(dir / "locked.db", impatient);
  EXPECT_EQ(CODE_OF(catalog), StatusCode::kUnavailable) << catalog.status().ToString();
}

TEST(MigrateTest, ReadOnlyCatalogMustAlreadyBeCurrent) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "v1.db"));
    ASSERT_OK(Migrate(db, 1));
  }
  OpenOptions read_only;
  read_only.read_only = true;
  Result<Catalog> old = Catalog::Open(dir / "v1.db", read_only);
  EXPECT_EQ(CODE_OF(old), StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("read-write"), std::string::npos);

  ASSERT_OK(Catalog::Open(dir / "v1.db"));
  ASSERT_OK_AND_ASSIGN(Catalog current, Catalog::Open(dir / "v1.db", read_only));
  EXPECT_OK(current.ListCollections());
  EXPECT_OK(current.SearchLexical("北京 storm", 5));  // the ICU tokenizer is there read-only too
}

TEST(MigrateTest, ReadOnlyDatabaseThatNeedsAnUpgradeIsFailedPrecondition) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "v1.db"));
    ASSERT_OK(Migrate(db, 1));
  }
  OpenOptions read_only;
  read_only.read_only = true;
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "v1.db", read_only));
  EXPECT_EQ(Migrate(db).code(), StatusCode::kFailedPrecondition);
  ASSERT_OK_AND_ASSIGN(int version, SchemaVersion(db));
  EXPECT_EQ(version, 1);
}

TEST(MigrateTest, ReadOnlyCatalogOfANewerVersionIsFailedPreconditionNamingIt) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "future.db"));
    ASSERT_OK(db.Exec("PRAGMA user_version = 9"));
  }
  OpenOptions read_only;
  read_only.read_only = true;
  Result<Catalog> catalog = Catalog::Open(dir / "future.db", read_only);
  EXPECT_EQ(CODE_OF(catalog), StatusCode::kFailedPrecondition);
  EXPECT_NE(catalog.status().message().find("schema version 9"), std::string::npos);
}

TEST(SchemaTest, UnknownDocumentStatusAndJobStateAreRejectedByTheSchema) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  ASSERT_OK(Migrate(db));
  EXPECT_EQ(db.Exec("INSERT INTO documents (collection_id, path, status) "
                    "VALUES (1, 'a', 'lost')")
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      db.Exec("INSERT INTO jobs (collection_id, path, state) VALUES (1, 'a', 'napping')").code(),
      StatusCode::kInvalidArgument);
}

TEST(SchemaTest, EmbeddingBlobMustMatchItsDimension) {
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(":memory:"));
  ASSERT_OK(Migrate(db));
  ASSERT_OK(
      db.Exec("INSERT INTO documents (id, collection_id, path) VALUES (1, 1, 'a');"
              "INSERT INTO chunks (id, document_id, ordinal, text) VALUES (1, 1, 0, 'x')"));
  EXPECT_EQ(db.Exec("INSERT INTO embeddings VALUES (1, 'm', 2, zeroblob(4))").code(),
            StatusCode::kInvalidArgument);
  EXPECT_OK(db.Exec("INSERT INTO embeddings VALUES (1, 'm', 1, zeroblob(4))"));
}

}  // namespace
}  // namespace cloister::storage
