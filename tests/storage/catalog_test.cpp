#include "cloister/storage/catalog.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

Document MakeDocument(std::string path, std::string hash = "hash") {
  Document doc;
  doc.collection_id = 1;
  doc.path = std::move(path);
  doc.content_hash = std::move(hash);
  doc.type = "text";
  doc.title = "A title";
  return doc;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(":memory:")); }

  int64_t Add(const Document& doc) {
    Result<int64_t> id = catalog_->AddDocument(doc);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  std::optional<Catalog> catalog_;
};

TEST_F(CatalogTest, NewCatalogHasOnlyTheDefaultCollection) {
  ASSERT_OK_AND_ASSIGN(std::vector<Collection> collections, catalog_->ListCollections());
  ASSERT_EQ(collections.size(), 1u);
  EXPECT_EQ(collections[0].name, kDefaultCollection);
  EXPECT_GT(collections[0].created_at, 0);
}

TEST_F(CatalogTest, EnsureCollectionReturnsOneIdPerNameAndUpdatesTheFolder) {
  ASSERT_OK_AND_ASSIGN(int64_t first, catalog_->EnsureCollection("legal", "/srv/legal"));
  ASSERT_OK_AND_ASSIGN(int64_t again, catalog_->EnsureCollection("legal", "/srv/legal2"));
  ASSERT_OK_AND_ASSIGN(int64_t default_id, catalog_->EnsureCollection("default", ""));
  EXPECT_EQ(first, again);
  EXPECT_EQ(default_id, 1);
  ASSERT_OK_AND_ASSIGN(std::vector<Collection> collections, catalog_->ListCollections());
  ASSERT_EQ(collections.size(), 2u);
  EXPECT_EQ(collections[1].name, "legal");
  EXPECT_EQ(collections[1].folder, "/srv/legal2");
}

TEST_F(CatalogTest, EnsureCollectionWithAnEmptyNameIsInvalidArgument) {
  EXPECT_EQ(CODE_OF(catalog_->EnsureCollection("", "/x")), StatusCode::kInvalidArgument);
}

TEST_F(CatalogTest, AddedDocumentReadsBackFieldForField) {
  Document doc = MakeDocument("/inbox/report.pdf", "abc123");
  doc.metadata = R"({"author": "Ana"})";
  doc.status = DocumentStatus::kPartial;
  doc.error = "page 3 unreadable";
  doc.size_bytes = 1234;
  doc.page_count = 7;
  int64_t id = Add(doc);
  ASSERT_OK_AND_ASSIGN(Document stored, catalog_->GetDocument(id));
  EXPECT_EQ(stored.id, id);
  EXPECT_EQ(stored.collection_id, 1);
  EXPECT_EQ(stored.parent_id, std::nullopt);
  EXPECT_EQ(stored.path, doc.path);
  EXPECT_EQ(stored.content_hash, doc.content_hash);
  EXPECT_EQ(stored.type, doc.type);
  EXPECT_EQ(stored.title, doc.title);
  EXPECT_EQ(stored.metadata, doc.metadata);
  EXPECT_EQ(stored.status, DocumentStatus::kPartial);
  EXPECT_EQ(stored.error, doc.error);
  EXPECT_EQ(stored.size_bytes, 1234);
  EXPECT_EQ(stored.page_count, 7);
  EXPECT_GT(stored.created_at, 0);
  EXPECT_EQ(stored.updated_at, stored.created_at);
  EXPECT_EQ(stored.job_id, std::nullopt);
  EXPECT_EQ(stored.name, "");
}

TEST_F(CatalogTest, JobAndNameRoundTripThroughEveryReader) {
  ASSERT_OK_AND_ASSIGN(int64_t job, catalog_->EnqueueJob("/mail/box.mbox", 1));
  Document doc = MakeDocument("/mail/box.mbox", "mboxhash");
  doc.job_id = job;
  doc.name = "box.mbox#3";
  int64_t id = Add(doc);
  ASSERT_OK_AND_ASSIGN(Document got, catalog_->GetDocument(id));
  EXPECT_EQ(got.job_id, job);
  EXPECT_EQ(got.name, "box.mbox#3");
  ASSERT_OK_AND_ASSIGN(std::vector<Document> listed, catalog_->ListDocuments(0, 10));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].job_id, job);
  EXPECT_EQ(listed[0].name, "box.mbox#3");
  ASSERT_OK_AND_ASSIGN(std::optional<Document> by_hash,
                       catalog_->FindDocumentByHash(1, "mboxhash"));
  ASSERT_TRUE(by_hash.has_value());
  EXPECT_EQ(by_hash->name, "box.mbox#3");
  ASSERT_OK_AND_ASSIGN(std::optional<Document> by_path,
                       catalog_->FindDocumentByPath("/mail/box.mbox"));
  ASSERT_TRUE(by_path.has_value());
  EXPECT_EQ(by_path->job_id, job);

  got.job_id = std::nullopt;
  got.name = "box.mbox#4";
  ASSERT_OK(catalog_->UpdateDocument(got));
  ASSERT_OK_AND_ASSIGN(got, catalog_->GetDocument(id));
  EXPECT_EQ(got.job_id, std::nullopt);
  EXPECT_EQ(got.name, "box.mbox#4");
}

TEST_F(CatalogTest, DocumentOfAMissingJobIsFailedPreconditionNamingTheJob) {
  Document doc = MakeDocument("/a");
  doc.job_id = 31;
  Result<int64_t> id = catalog_->AddDocument(doc);
  EXPECT_EQ(CODE_OF(id), StatusCode::kFailedPrecondition);
  EXPECT_NE(id.status().message().find("job 31"), std::string::npos) << id.status().message();
}

TEST_F(CatalogTest, GetDocumentOfAnUnknownIdIsNotFound) {
  Result<Document> doc = catalog_->GetDocument(99);
  EXPECT_EQ(CODE_OF(doc), StatusCode::kNotFound);
  EXPECT_NE(doc.status().message().find("99"), std::string::npos);
}

TEST_F(CatalogTest, MalformedDocumentIsInvalidArgument) {
  EXPECT_EQ(CODE_OF(catalog_->AddDocument(MakeDocument(""))), StatusCode::kInvalidArgument);
  Document negative = MakeDocument("/a");
  negative.size_bytes = -1;
  EXPECT_EQ(CODE_OF(catalog_->AddDocument(negative)), StatusCode::kInvalidArgument);
  Document bad_json = MakeDocument("/a");
  bad_json.metadata = "{not json";
  Result<int64_t> id = catalog_->AddDocument(bad_json);
  EXPECT_EQ(CODE_OF(id), StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("/a"), std::string::npos) << id.status().message();
}

TEST_F(CatalogTest, DocumentInAMissingCollectionOrUnderAMissingParentIsFailedPrecondition) {
  Document orphan = MakeDocument("/a");
  orphan.collection_id = 42;
  Result<int64_t> id = catalog_->AddDocument(orphan);
  EXPECT_EQ(CODE_OF(id), StatusCode::kFailedPrecondition);
  EXPECT_NE(id.status().message().find("collection 42"), std::string::npos);
  Document attachment = MakeDocument("/a#1");
  attachment.parent_id = 77;
  EXPECT_EQ(CODE_OF(catalog_->AddDocument(attachment)), StatusCode::kFailedPrecondition);
}

TEST_F(CatalogTest, FindDocumentByHashPrefersTheTopLevelDocument) {
  Document mail = MakeDocument("/mail/1.eml", "mailhash");
  int64_t mail_id = Add(mail);
  Document attachment = MakeDocument("/mail/1.eml#invoice.pdf", "same");
  attachment.parent_id = mail_id;
  Add(attachment);
  int64_t standalone = Add(MakeDocument("/docs/invoice.pdf", "same"));
  ASSERT_OK_AND_ASSIGN(std::optional<Document> found, catalog_->FindDocumentByHash(1, "same"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, standalone);
  ASSERT_OK_AND_ASSIGN(found, catalog_->FindDocumentByHash(1, "nothing"));
  EXPECT_FALSE(found.has_value());
  ASSERT_OK_AND_ASSIGN(found, catalog_->FindDocumentByHash(2, "same"));
  EXPECT_FALSE(found.has_value());
}

TEST_F(CatalogTest, FindDocumentByPathReturnsTheDocumentOrNothing) {
  int64_t id = Add(MakeDocument("/docs/a.md"));
  ASSERT_OK_AND_ASSIGN(std::optional<Document> found, catalog_->FindDocumentByPath("/docs/a.md"));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, id);
  ASSERT_OK_AND_ASSIGN(found, catalog_->FindDocumentByPath("/docs/b.md"));
  EXPECT_FALSE(found.has_value());
}

TEST_F(CatalogTest, ListDocumentsPagesInIdOrder) {
  for (int i = 0; i < 5; ++i) Add(MakeDocument("/d" + std::to_string(i)));
  ASSERT_OK_AND_ASSIGN(std::vector<Document> page, catalog_->ListDocuments(1, 3));
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].path, "/d1");
  EXPECT_EQ(page[2].path, "/d3");
  ASSERT_OK_AND_ASSIGN(page, catalog_->ListDocuments(4, 10));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].path, "/d4");
}

TEST_F(CatalogTest, ListDocumentsWithANegativeOffsetOrNoLimitIsInvalidArgument) {
  EXPECT_EQ(CODE_OF(catalog_->ListDocuments(-1, 10)), StatusCode::kInvalidArgument);
  EXPECT_EQ(CODE_OF(catalog_->ListDocuments(0, 0)), StatusCode::kInvalidArgument);
}

TEST_F(CatalogTest, UpdateDocumentStatusRecordsStatusAndError) {
  int64_t id = Add(MakeDocument("/a"));
  ASSERT_OK(catalog_->UpdateDocumentStatus(id, DocumentStatus::kFailed, "encrypted"));
  ASSERT_OK_AND_ASSIGN(Document doc, catalog_->GetDocument(id));
  EXPECT_EQ(doc.status, DocumentStatus::kFailed);
  EXPECT_EQ(doc.error, "encrypted");
  ASSERT_OK(catalog_->UpdateDocumentStatus(id, DocumentStatus::kReady));
  ASSERT_OK_AND_ASSIGN(doc, catalog_->GetDocument(id));
  EXPECT_EQ(doc.status, DocumentStatus::kReady);
  EXPECT_EQ(doc.error, "");
}

TEST_F(CatalogTest, UpdateDocumentStatusOfAnUnknownIdIsNotFound) {
  EXPECT_EQ(catalog_->UpdateDocumentStatus(5, DocumentStatus::kReady).code(),
            StatusCode::kNotFound);
}

TEST_F(CatalogTest, UpdateDocumentOverwritesItsFields) {
  int64_t id = Add(MakeDocument("/a"));
  ASSERT_OK_AND_ASSIGN(Document doc, catalog_->GetDocument(id));
  doc.title = "Quarterly report";
  doc.page_count = 12;
  doc.metadata = R"({"lang": "en"})";
  ASSERT_OK(catalog_->UpdateDocument(doc));
  ASSERT_OK_AND_ASSIGN(Document stored, catalog_->GetDocument(id));
  EXPECT_EQ(stored.title, "Quarterly report");
  EXPECT_EQ(stored.page_count, 12);
  EXPECT_EQ(stored.metadata, doc.metadata);
}

TEST_F(CatalogTest, UpdateDocumentRejectsUnknownIdsAndBadFields) {
  Document missing = MakeDocument("/a");
  missing.id = 31;
  EXPECT_EQ(catalog_->UpdateDocument(missing).code(), StatusCode::kNotFound);
  Document doc = MakeDocument("/a");
  doc.id = Add(doc);
  doc.metadata = "[";
  EXPECT_EQ(catalog_->UpdateDocument(doc).code(), StatusCode::kInvalidArgument);
  doc.metadata = "{}";
  doc.collection_id = 9;
  EXPECT_EQ(catalog_->UpdateDocument(doc).code(), StatusCode::kFailedPrecondition);
}

TEST_F(CatalogTest, DeleteDocumentRemovesItsAttachments) {
  int64_t mail = Add(MakeDocument("/m.eml"));
  Document attachment = MakeDocument("/m.eml#a.pdf");
  attachment.parent_id = mail;
  int64_t child = Add(attachment);
  ASSERT_OK(catalog_->DeleteDocument(mail));
  EXPECT_EQ(CODE_OF(catalog_->GetDocument(mail)), StatusCode::kNotFound);
  EXPECT_EQ(CODE_OF(catalog_->GetDocument(child)), StatusCode::kNotFound);
}

TEST_F(CatalogTest, DeleteDocumentOfAnUnknownIdIsNotFound) {
  EXPECT_EQ(catalog_->DeleteDocument(8).code(), StatusCode::kNotFound);
}

TEST_F(CatalogTest, DeletedDocumentLeavesItsJobWithTheDocumentCleared) {
  int64_t doc = Add(MakeDocument("/a"));
  ASSERT_OK_AND_ASSIGN(int64_t job, catalog_->EnqueueJob("/a", 1));
  ASSERT_OK(catalog_->SetJobDocument(job, doc));
  ASSERT_OK(catalog_->DeleteDocument(doc));
  ASSERT_OK_AND_ASSIGN(std::vector<Job> jobs, catalog_->ListJobs());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].document_id, std::nullopt);
}

TEST_F(CatalogTest, EnqueuedJobStartsQueuedWithoutAttempts) {
  ASSERT_OK_AND_ASSIGN(int64_t id, catalog_->EnqueueJob("/inbox/a.pdf", 1));
  ASSERT_OK_AND_ASSIGN(std::vector<Job> jobs, catalog_->ListJobs());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].id, id);
  EXPECT_EQ(jobs[0].path, "/inbox/a.pdf");
  EXPECT_EQ(jobs[0].collection_id, 1);
  EXPECT_EQ(jobs[0].state, JobState::kQueued);
  EXPECT_EQ(jobs[0].attempts, 0);
  EXPECT_EQ(jobs[0].document_id, std::nullopt);
  EXPECT_GT(jobs[0].created_at, 0);
}

TEST_F(CatalogTest, EnqueueJobRejectsAnEmptyPathAndAMissingCollection) {
  EXPECT_EQ(CODE_OF(catalog_->EnqueueJob("", 1)), StatusCode::kInvalidArgument);
  Result<int64_t> id = catalog_->EnqueueJob("/a", 12);
  EXPECT_EQ(CODE_OF(id), StatusCode::kFailedPrecondition);
  EXPECT_NE(id.status().message().find("collection 12"), std::string::npos);
}

TEST_F(CatalogTest, SetJobStateCountsAttemptsAndKeepsTheError) {
  ASSERT_OK_AND_ASSIGN(int64_t id, catalog_->EnqueueJob("/a", 1));
  ASSERT_OK(catalog_->SetJobState(id, JobState::kExtracting));
  ASSERT_OK(catalog_->SetJobState(id, JobState::kChunking));
  ASSERT_OK(catalog_->SetJobState(id, JobState::kExtracting));
  ASSERT_OK(catalog_->SetJobState(id, JobState::kFailed, "parser crashed"));
  ASSERT_OK_AND_ASSIGN(std::vector<Job> jobs, catalog_->ListJobs());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kFailed);
  EXPECT_EQ(jobs[0].error, "parser crashed");
  EXPECT_EQ(jobs[0].attempts, 2);
}

TEST_F(CatalogTest, JobUpdatesOfAnUnknownJobAreNotFound) {
  EXPECT_EQ(catalog_->SetJobState(3, JobState::kDone).code(), StatusCode::kNotFound);
  int64_t doc = Add(MakeDocument("/a"));
  EXPECT_EQ(catalog_->SetJobDocument(3, doc).code(), StatusCode::kNotFound);
}

TEST_F(CatalogTest, LinkingAJobToAMissingDocumentIsFailedPrecondition) {
  ASSERT_OK_AND_ASSIGN(int64_t id, catalog_->EnqueueJob("/a", 1));
  EXPECT_EQ(catalog_->SetJobDocument(id, 404).code(), StatusCode::kFailedPrecondition);
}

TEST_F(CatalogTest, ListJobsFiltersByState) {
  ASSERT_OK_AND_ASSIGN(int64_t a, catalog_->EnqueueJob("/a", 1));
  ASSERT_OK_AND_ASSIGN(int64_t b, catalog_->EnqueueJob("/b", 1));
  ASSERT_OK(catalog_->SetJobState(a, JobState::kDone));
  ASSERT_OK_AND_ASSIGN(std::vector<Job> queued, catalog_->ListJobs(JobState::kQueued));
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].id, b);
  ASSERT_OK_AND_ASSIGN(std::vector<Job> all, catalog_->ListJobs());
  EXPECT_EQ(all.size(), 2u);
}

TEST_F(CatalogTest, ResetUnfinishedJobsRequeuesOnlyJobsInFlight) {
  const JobState states[] = {JobState::kQueued,    JobState::kExtracting, JobState::kChunking,
                             JobState::kEmbedding, JobState::kDone,       JobState::kFailed};
  for (JobState state : states) {
    ASSERT_OK_AND_ASSIGN(int64_t id, catalog_->EnqueueJob("/f", 1));
    ASSERT_OK(catalog_->SetJobState(id, state));
  }
  ASSERT_OK_AND_ASSIGN(int moved, catalog_->ResetUnfinishedJobs());
  EXPECT_EQ(moved, 3);
  ASSERT_OK_AND_ASSIGN(std::vector<Job> queued, catalog_->ListJobs(JobState::kQueued));
  EXPECT_EQ(queued.size(), 4u);
  ASSERT_OK_AND_ASSIGN(std::vector<Job> done, catalog_->ListJobs(JobState::kDone));
  EXPECT_EQ(done.size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::vector<Job> failed, catalog_->ListJobs(JobState::kFailed));
  EXPECT_EQ(failed.size(), 1u);
  ASSERT_OK_AND_ASSIGN(moved, catalog_->ResetUnfinishedJobs());
  EXPECT_EQ(moved, 0);
}

TEST_F(CatalogTest, StatsCountDocumentsChunksEmbeddingsAndJobs) {
  int64_t a = Add(MakeDocument("/a"));
  Add(MakeDocument("/b"));
  ASSERT_OK(catalog_->UpdateDocumentStatus(a, DocumentStatus::kReady));
  Chunk one;
  one.text = "one";
  Chunk two;
  two.ordinal = 1;
  two.text = "two";
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> chunks, catalog_->ReplaceChunks(a, {one, two}));
  ASSERT_OK(catalog_->PutEmbeddings("m", {{chunks[0], {1.0f, 2.0f}}}));
  ASSERT_OK(catalog_->EnqueueJob("/a", 1));
  ASSERT_OK_AND_ASSIGN(CatalogStats stats, catalog_->Stats());
  EXPECT_EQ(stats.collections, 1);
  EXPECT_EQ(stats.documents[DocumentStatus::kReady], 1);
  EXPECT_EQ(stats.documents[DocumentStatus::kQueued], 1);
  EXPECT_EQ(stats.documents[DocumentStatus::kFailed], 0);
  EXPECT_EQ(stats.documents.size(), 4u);
  EXPECT_EQ(stats.chunks, 2);
  EXPECT_EQ(stats.embeddings, 1);
  EXPECT_EQ(stats.embeddings_by_model["m"], 1);
  EXPECT_EQ(stats.jobs[JobState::kQueued], 1);
  EXPECT_EQ(stats.jobs.size(), 6u);
}

TEST(CatalogNamesTest, StatusAndStateNamesRoundTrip) {
  for (DocumentStatus s : {DocumentStatus::kQueued, DocumentStatus::kReady,
                           DocumentStatus::kPartial, DocumentStatus::kFailed}) {
    EXPECT_EQ(ParseDocumentStatus(DocumentStatusName(s)), s);
  }
  for (JobState s : {JobState::kQueued, JobState::kExtracting, JobState::kChunking,
                     JobState::kEmbedding, JobState::kDone, JobState::kFailed}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  }
  EXPECT_EQ(DocumentStatusName(DocumentStatus::kPartial), "partial");
  EXPECT_EQ(JobStateName(JobState::kEmbedding), "embedding");
  EXPECT_EQ(ParseDocumentStatus("Ready"), std::nullopt);
  EXPECT_EQ(ParseJobState(""), std::nullopt);
}

TEST(CatalogFileTest, UnknownStatusWrittenByAnotherProgramIsDataLoss) {
  TempDir dir;
  ASSERT_OK(Catalog::Open(dir / "c.db"));
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "c.db"));
    ASSERT_OK(
        db.Exec("PRAGMA ignore_check_constraints = ON;"
                "INSERT INTO documents (id, collection_id, path, status) "
                "VALUES (1, 1, '/a', 'archived');"
                "INSERT INTO jobs (collection_id, path, state) VALUES (1, '/a', 'paused')"));
  }
  ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(dir / "c.db"));
  EXPECT_EQ(CODE_OF(catalog.GetDocument(1)), StatusCode::kDataLoss);
  EXPECT_EQ(CODE_OF(catalog.ListJobs()), StatusCode::kDataLoss);
  EXPECT_EQ(CODE_OF(catalog.Stats()), StatusCode::kDataLoss);
}

TEST(CatalogFileTest, WriteWhileAnotherProcessHoldsTheLockIsUnavailable) {
  TempDir dir;
  OpenOptions impatient;
  impatient.busy_timeout_ms = 50;
  ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(dir / "c.db", impatient));
  ASSERT_OK_AND_ASSIGN(Database other, Database::Open(dir / "c.db"));
  ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(other));
  EXPECT_EQ(CODE_OF(catalog.AddDocument(MakeDocument("/a"))), StatusCode::kUnavailable);
  EXPECT_EQ(CODE_OF(catalog.ReplaceChunks(1, {})), StatusCode::kUnavailable);
  EXPECT_OK(catalog.ListDocuments(0, 10));
}

TEST(CatalogFileTest, CatalogReopensWithItsData) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(dir / "c.db"));
    ASSERT_OK(catalog.AddDocument(MakeDocument("/kept")));
    EXPECT_EQ(catalog.path(), dir / "c.db");
  }
  ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(dir / "c.db"));
  ASSERT_OK_AND_ASSIGN(std::optional<Document> doc, catalog.FindDocumentByPath("/kept"));
  EXPECT_TRUE(doc.has_value());
}

}  // namespace
}  // namespace cloister::storage
