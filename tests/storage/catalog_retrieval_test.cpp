// Catalog calls for retrieval: filters, chunks by id, neighbours, a job's chunks.
#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "cloister/storage/catalog.h"
#include "cloister/storage/json_text.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

class RetrievalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_ / "catalog.db"));
    // A PDF, a mail from Ann (2024) with a PDF attachment, a mail from Bob (2021), a queued doc.
    pdf_ = Add("/in/report.pdf", "pdf", DocumentStatus::kReady, "{}", {"quarterly budget figures"});
    DocumentTree mail{Doc("/in/ann.eml", "email", DocumentStatus::kReady,
                          JsonObjectText({{"from", "Ann Example <ann@example.org>"},
                                          {"date", "2024-03-01T10:00:00Z"}})),
                      {Chunk0("budget meeting moved"), Chunk1("see the attached budget")},
                      {DocumentTree{Doc("/in/ann.eml", "pdf", DocumentStatus::kReady, "{}"),
                                    {Chunk0("attached budget annex")}, {}}}};
    ASSERT_OK_AND_ASSIGN(ann_, catalog_->AddDocumentTree(mail));
    bob_ = Add("/in/bob.eml", "email", DocumentStatus::kReady,
               JsonObjectText({{"from", "Bob <bob@example.org>"}, {"date", "2021-06-01T00:00:00Z"}}),
               {"old budget thread"});
    queued_ = Add("/in/new.txt", "text", DocumentStatus::kQueued, "{}", {"budget draft in progress"});
  }

  static Document Doc(std::string path, std::string type, DocumentStatus status, std::string meta) {
    Document d;
    d.collection_id = 1;
    d.path = std::move(path);
    d.type = std::move(type);
    d.status = status;
    d.metadata = std::move(meta);
    return d;
  }
  static Chunk Chunk0(std::string text) { return Chunk{0, 0, 0, std::move(text), 1, 1, {}, "{}"}; }
  static Chunk Chunk1(std::string text) { return Chunk{0, 0, 1, std::move(text), 1, 1, {}, "{}"}; }

  int64_t Add(std::string path, std::string type, DocumentStatus status, std::string meta,
              std::vector<std::string> texts) {
    DocumentTree tree{Doc(std::move(path), std::move(type), status, std::move(meta)), {}, {}};
    for (size_t i = 0; i < texts.size(); ++i) tree.chunks.push_back(Chunk{0, 0, static_cast<int>(i), texts[i], {}, {}, {}, "{}"});
    auto id = catalog_->AddDocumentTree(tree);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  std::set<std::string> PathsOf(const ChunkFilter& filter) {
    auto hits = catalog_->SearchLexical("budget", 50, filter);
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    std::set<std::string> out;
    for (const auto& h : *hits) out.insert(h.path + "#" + std::to_string(h.document_id));
    return out;
  }
  size_t CountOf(const ChunkFilter& filter) {
    auto hits = catalog_->SearchLexical("budget", 50, filter);
    return hits.ok() ? hits->size() : 999;
  }

  TempDir dir_;
  std::optional<Catalog> catalog_;
  int64_t pdf_ = 0, ann_ = 0, bob_ = 0, queued_ = 0;
};

TEST_F(RetrievalTest, WithoutAFilterEveryVisibleChunkMatches) { EXPECT_EQ(CountOf({}), 5u); }

TEST_F(RetrievalTest, TypeFilterKeepsOnlyThoseTypes) {
  EXPECT_EQ(CountOf({.types = {"pdf"}}), 2u);  // the report and the attachment
  EXPECT_EQ(CountOf({.types = {"email"}}), 3u);
  EXPECT_EQ(CountOf({.types = {"pdf", "email"}}), 5u);
  EXPECT_EQ(CountOf({.types = {"docx"}}), 0u);
}

TEST_F(RetrievalTest, SenderFilterIsCaseInsensitiveAndCoversAttachments) {
  EXPECT_EQ(CountOf({.from_contains = "ANN@example"}), 3u);  // two mail chunks + the annex
  EXPECT_EQ(CountOf({.from_contains = "bob"}), 1u);
  EXPECT_EQ(CountOf({.from_contains = "carol"}), 0u);
}

TEST_F(RetrievalTest, DateFiltersUseTheMailDateAndDropUndatedDocuments) {
  EXPECT_EQ(CountOf({.after = "2023-01-01"}), 3u);
  EXPECT_EQ(CountOf({.before = "2023-01-01"}), 1u);
  EXPECT_EQ(CountOf({.after = "2021-01-01", .before = "2022-01-01"}), 1u);
}

TEST_F(RetrievalTest, CollectionFilterKeepsOnlyThoseCollections) {
  EXPECT_EQ(CountOf({.collection_ids = {1}}), 5u);
  EXPECT_EQ(CountOf({.collection_ids = {2}}), 0u);
}

// A reader's permission (readable_collections) is a condition of the search itself, and an
// intersection with the collections a user chooses: choosing can narrow it, never widen it.
class PermissionFilterTest : public RetrievalTest {
 protected:
  void SetUp() override {
    RetrievalTest::SetUp();
    ASSERT_OK_AND_ASSIGN(hr_, catalog_->EnsureCollection("hr", "/hr"));
    DocumentTree tree{Doc("/hr/salaries.txt", "text", DocumentStatus::kReady, "{}"),
                      {Chunk0("salary budget for the board")}, {}};
    tree.document.collection_id = hr_;
    ASSERT_OK_AND_ASSIGN(salaries_, catalog_->AddDocumentTree(tree));
  }
  int64_t hr_ = 0, salaries_ = 0;
};

TEST_F(PermissionFilterTest, ReadableCollectionsLimitSearchAndIntersectTheUsersChoice) {
  EXPECT_EQ(CountOf({}), 6u);
  EXPECT_EQ(CountOf({.readable_collections = std::vector<int64_t>{1}}), 5u);
  EXPECT_EQ(CountOf({.readable_collections = std::vector<int64_t>{hr_}}), 1u);
  EXPECT_EQ(CountOf({.readable_collections = std::vector<int64_t>{}}), 0u) << "no grant reads nothing";
  // Choosing the hidden collection finds nothing; choosing none finds only the readable ones.
  EXPECT_EQ(CountOf({.collection_ids = {hr_}, .readable_collections = std::vector<int64_t>{1}}), 0u);
  EXPECT_EQ(CountOf({.collection_ids = {1, hr_}, .readable_collections = std::vector<int64_t>{1}}), 5u);
  // k places are not used up by hidden chunks: the one readable chunk is found with k 1.
  auto one = catalog_->SearchLexical("salary budget", 1, {.readable_collections = std::vector<int64_t>{1}});
  ASSERT_OK(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_NE(one->front().document_id, salaries_);
}

TEST_F(PermissionFilterTest, VisibleChunksLibraryAndStatsKeepToReadableCollections) {
  ASSERT_OK_AND_ASSIGN(auto chunks, catalog_->GetChunks(salaries_));
  ASSERT_EQ(chunks.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto refs, catalog_->VisibleChunks({chunks[0].id},
                                                         {.readable_collections = std::vector<int64_t>{1}}));
  EXPECT_TRUE(refs.empty());
  ASSERT_OK_AND_ASSIGN(auto ids, catalog_->VisibleChunkIdsIn({hr_}));
  EXPECT_EQ(ids, std::vector<int64_t>{chunks[0].id});
  ASSERT_OK_AND_ASSIGN(auto none, catalog_->VisibleChunkIdsIn({}));
  EXPECT_TRUE(none.empty());

  ASSERT_OK_AND_ASSIGN(auto all, catalog_->ListLibrary(0, 10));
  ASSERT_OK_AND_ASSIGN(auto mine, catalog_->ListLibrary(0, 10, std::vector<int64_t>{1}));
  ASSERT_OK_AND_ASSIGN(auto theirs, catalog_->ListLibrary(0, 10, std::vector<int64_t>{hr_}));
  ASSERT_OK_AND_ASSIGN(auto nothing, catalog_->ListLibrary(0, 10, std::vector<int64_t>{}));
  EXPECT_EQ(all.total, 4);
  EXPECT_EQ(mine.total, 3);
  EXPECT_EQ(theirs.total, 1);
  ASSERT_EQ(theirs.entries.size(), 1u);
  EXPECT_EQ(theirs.entries[0].document.id, salaries_);
  EXPECT_EQ(nothing.total, 0);
  EXPECT_TRUE(nothing.entries.empty());

  ASSERT_OK_AND_ASSIGN(CatalogStats everything, catalog_->Stats());
  ASSERT_OK_AND_ASSIGN(CatalogStats hr, catalog_->StatsOf({hr_}));
  EXPECT_EQ(everything.chunks, 7);
  EXPECT_EQ(hr.chunks, 1);
  EXPECT_EQ(hr.collections, 1);
  EXPECT_EQ(hr.documents[DocumentStatus::kReady], 1);
  EXPECT_EQ(hr.documents[DocumentStatus::kQueued], 0);
  EXPECT_EQ(hr.jobs[JobState::kQueued], 0);
}

TEST_F(RetrievalTest, VisibleChunksKeepsTheGivenOrderAndSkipsInvisibleAndUnknownIds) {
  auto all = catalog_->SearchLexical("budget", 50);
  ASSERT_TRUE(all.ok());
  std::vector<int64_t> ids;
  for (auto it = all->rbegin(); it != all->rend(); ++it) ids.push_back(it->chunk_id);
  ids.insert(ids.begin() + 1, 987654);  // unknown
  auto refs = catalog_->VisibleChunks(ids);
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  ASSERT_EQ(refs->size(), all->size());
  EXPECT_EQ(refs->front().chunk_id, all->back().chunk_id);
  for (const auto& r : *refs) EXPECT_NE(r.document_id, queued_);
  auto pdf_only = catalog_->VisibleChunks(ids, {.types = {"pdf"}});
  ASSERT_TRUE(pdf_only.ok());
  EXPECT_EQ(pdf_only->size(), 2u);
}

TEST_F(RetrievalTest, AnAttachmentsRefNamesItsParent) {
  auto hits = catalog_->SearchLexical("annex", 5);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 1u);
  auto refs = catalog_->VisibleChunks({hits->front().chunk_id});
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ(refs->front().parent_id, std::optional<int64_t>(ann_));
  EXPECT_EQ(refs->front().type, "pdf");
  // An attachment is cited with its message's sender and date.
  EXPECT_EQ(refs->front().from, "Ann Example <ann@example.org>");
  EXPECT_EQ(refs->front().date, "2024-03-01T10:00:00Z");
}

TEST_F(RetrievalTest, TheLibraryListsFinishedTopLevelDocumentsNewestFirstWithCounts) {
  ASSERT_OK_AND_ASSIGN(DocumentListing all, catalog_->ListLibrary(0, 10));
  EXPECT_EQ(all.total, 3);  // not the attachment, not the one being written
  ASSERT_EQ(all.entries.size(), 3u);
  EXPECT_EQ(all.entries[0].document.id, bob_);
  EXPECT_EQ(all.entries[1].document.id, ann_);
  EXPECT_EQ(all.entries[2].document.id, pdf_);
  EXPECT_EQ(all.entries[1].chunks, 2);
  EXPECT_EQ(all.entries[1].attachments, 1);
  EXPECT_EQ(all.entries[1].from, "Ann Example <ann@example.org>");
  EXPECT_EQ(all.entries[1].date, "2024-03-01T10:00:00Z");
  EXPECT_EQ(all.entries[2].from, "");
  ASSERT_OK_AND_ASSIGN(DocumentListing page, catalog_->ListLibrary(1, 1));
  EXPECT_EQ(page.total, 3);
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].document.id, ann_);
  EXPECT_EQ(catalog_->ListLibrary(-1, 1).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RetrievalTest, ChunkAtFindsNeighboursByOrdinal) {
  auto second = catalog_->ChunkAt(ann_, 1);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->has_value());
  EXPECT_EQ((*second)->text, "see the attached budget");
  auto none = catalog_->ChunkAt(ann_, 7);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(RetrievalTest, ChunkIdsOfADocumentIncludeItsAttachments) {
  ASSERT_OK_AND_ASSIGN(auto ids, catalog_->ChunkIdsOfDocument(ann_));
  EXPECT_EQ(ids.size(), 3u);  // two mail chunks and the annex
  ASSERT_OK_AND_ASSIGN(auto pdf_ids, catalog_->ChunkIdsOfDocument(pdf_));
  EXPECT_EQ(pdf_ids.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto none, catalog_->ChunkIdsOfDocument(424242));
  EXPECT_TRUE(none.empty());
}

TEST_F(RetrievalTest, ChunksOfJobAreTheQueuedDocumentsOfThatJobOnly) {
  ASSERT_OK_AND_ASSIGN(int64_t job, catalog_->EnqueueJob("/in/x.txt", 1));
  Document d = Doc("/in/x.txt", "text", DocumentStatus::kQueued, "{}");
  d.job_id = job;
  ASSERT_OK(catalog_->AddDocumentTree(DocumentTree{d, {Chunk0("one"), Chunk1("two")}, {}}));
  ASSERT_OK_AND_ASSIGN(auto chunks, catalog_->ChunksOfJob(job));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "one");
  ASSERT_OK(catalog_->FinalizeJobDocuments(job, "/in/x.txt"));
  ASSERT_OK_AND_ASSIGN(auto after, catalog_->ChunksOfJob(job));
  EXPECT_TRUE(after.empty());
}

}  // namespace
}  // namespace cloister::storage
