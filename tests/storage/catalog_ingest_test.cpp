// The catalog calls the ingestion pipeline makes: document trees, finalizing or discarding a
// job's documents, and following files that are renamed, moved or deleted.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "cloister/storage/catalog.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

Document MakeDocument(std::string path, std::string name = "") {
  Document doc;
  doc.collection_id = 1;
  doc.path = std::move(path);
  doc.name = std::move(name);
  doc.content_hash = "hash";
  doc.type = "text";
  return doc;
}

Chunk MakeChunk(int ordinal, std::string text) {
  Chunk chunk;
  chunk.ordinal = ordinal;
  chunk.text = std::move(text);
  return chunk;
}

DocumentTree Leaf(Document doc, std::vector<Chunk> chunks = {}) {
  return DocumentTree{std::move(doc), std::move(chunks), {}};
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_ / "catalog.db")); }

  int64_t AddTree(const DocumentTree& tree) {
    Result<int64_t> id = catalog_->AddDocumentTree(tree);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  // A ready document at `path` with one chunk of `text`; returns its id.
  int64_t AddReady(const std::string& path, const std::string& text) {
    Document doc = MakeDocument(path);
    doc.status = DocumentStatus::kReady;
    return AddTree(Leaf(doc, {MakeChunk(0, text)}));
  }

  int64_t NewJob(const std::string& path) {
    Result<int64_t> id = catalog_->EnqueueJob(path, 1);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  size_t Hits(std::string_view query) {
    Result<std::vector<LexicalHit>> hits = catalog_->SearchLexical(query, 10);
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    return hits.ok() ? hits->size() : 0;
  }

  std::vector<std::string> Paths() {
    Result<std::vector<Document>> docs = catalog_->ListDocuments(0, 1000);
    EXPECT_TRUE(docs.ok()) << docs.status().ToString();
    std::vector<std::string> paths;
    if (docs.ok()) {
      for (const Document& doc : *docs) paths.push_back(doc.path);
    }
    return paths;
  }

  // Runs `sql` through a second connection, so nothing is hidden by the catalog.
  int64_t Query(const std::string& sql) {
    Result<Database> db = Database::Open(dir_ / "catalog.db");
    if (!db.ok()) return -1;
    Result<int64_t> value = db->QueryInt64(sql);
    return value.ok() ? *value : -1;
  }
  int64_t CountRows(const std::string& table) { return Query("SELECT count(*) FROM " + table); }
  void Exec(const std::string& sql) {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir_ / "catalog.db"));
    ASSERT_OK(db.Exec(sql));
  }

  TempDir dir_;
  std::optional<Catalog> catalog_;
};

// ---- AddDocumentTree ----

TEST_F(IngestTest, AddDocumentTreeStoresEveryDocumentUnderItsParentWithItsChunks) {
  int64_t job = NewJob("/mail/box.mbox");
  Document root = MakeDocument("/mail/box.mbox", "box.mbox");
  root.job_id = job;
  DocumentTree message{MakeDocument("/mail/box.mbox", "box.mbox#1"),
                       {MakeChunk(0, "Dear team")},
                       {Leaf(MakeDocument("/mail/box.mbox", "plan.pdf"),
                             {MakeChunk(0, "Plan page one"), MakeChunk(1, "Plan page two")})}};
  DocumentTree tree{root,
                    {MakeChunk(0, "Mailbox summary")},
                    {message, Leaf(MakeDocument("/mail/box.mbox", "box.mbox#2"))}};
  int64_t root_id = AddTree(tree);
  ASSERT_GT(root_id, 0);

  // Depth first, in the order given: root, message 1, its attachment, message 2.
  ASSERT_OK_AND_ASSIGN(std::vector<Document> docs, catalog_->ListDocuments(0, 10));
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].id, root_id);
  EXPECT_EQ(docs[0].parent_id, std::nullopt);
  EXPECT_EQ(docs[1].name, "box.mbox#1");
  EXPECT_EQ(docs[1].parent_id, root_id);
  EXPECT_EQ(docs[2].name, "plan.pdf");
  EXPECT_EQ(docs[2].parent_id, docs[1].id);
  EXPECT_EQ(docs[3].name, "box.mbox#2");
  EXPECT_EQ(docs[3].parent_id, root_id);
  for (const Document& doc : docs) EXPECT_EQ(doc.job_id, job) << doc.name;  // inherited

  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> chunks, catalog_->GetChunks(docs[2].id));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[1].text, "Plan page two");
  ASSERT_OK_AND_ASSIGN(chunks, catalog_->GetChunks(root_id));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].text, "Mailbox summary");
  ASSERT_OK_AND_ASSIGN(chunks, catalog_->GetChunks(docs[3].id));
  EXPECT_TRUE(chunks.empty());
}

TEST_F(IngestTest, AddDocumentTreeKeepsTheRootsParentAndAChildsOwnJob) {
  int64_t parent = AddReady("/a", "x");
  int64_t other_job = NewJob("/b");
  Document root = MakeDocument("/a", "inner");
  root.parent_id = parent;
  Document child = MakeDocument("/a", "inner/child");
  child.job_id = other_job;
  int64_t root_id = AddTree({root, {}, {Leaf(child)}});
  ASSERT_OK_AND_ASSIGN(Document stored, catalog_->GetDocument(root_id));
  EXPECT_EQ(stored.parent_id, parent);
  EXPECT_EQ(stored.job_id, std::nullopt);
  ASSERT_OK_AND_ASSIGN(std::vector<Document> docs, catalog_->ListDocuments(2, 10));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].job_id, other_job);
}

TEST_F(IngestTest, ChildWithADuplicateChunkOrdinalLeavesNothingBehind) {
  DocumentTree bad_child =
      Leaf(MakeDocument("/m.eml", "notes.txt"),
           {MakeChunk(0, "walrus"), MakeChunk(1, "walrus"), MakeChunk(1, "x")});
  DocumentTree tree{
      MakeDocument("/m.eml"),
      {MakeChunk(0, "walrus on the root")},
      {Leaf(MakeDocument("/m.eml", "ok.txt"), {MakeChunk(0, "walrus ok")}), bad_child}};
  Result<int64_t> id = catalog_->AddDocumentTree(tree);
  EXPECT_EQ(CODE_OF(id), StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("notes.txt"), std::string::npos) << id.status().message();
  EXPECT_NE(id.status().message().find("ordinal 1"), std::string::npos) << id.status().message();
  EXPECT_EQ(CountRows("documents"), 0);
  EXPECT_EQ(CountRows("chunks"), 0);
  EXPECT_EQ(CountRows("chunks_fts_docsize"), 0);
  EXPECT_OK(catalog_->AddDocument(MakeDocument("/after")));  // no transaction was left open
}

TEST_F(IngestTest, TreeDeeperThanTheLimitIsInvalidArgumentAndTheLimitItselfIsStored) {
  auto chain = [](int depth) {
    DocumentTree tree = Leaf(MakeDocument("/deep", "level " + std::to_string(depth)));
    for (int level = depth - 1; level >= 1; --level) {
      DocumentTree parent = Leaf(MakeDocument("/deep", "level " + std::to_string(level)));
      parent.children.push_back(std::move(tree));
      tree = std::move(parent);
    }
    return tree;
  };
  Result<int64_t> too_deep = catalog_->AddDocumentTree(chain(kMaxDocumentTreeDepth + 1));
  EXPECT_EQ(CODE_OF(too_deep), StatusCode::kInvalidArgument);
  EXPECT_NE(too_deep.status().message().find("/deep"), std::string::npos);
  EXPECT_EQ(CountRows("documents"), 0);

  ASSERT_OK(catalog_->AddDocumentTree(chain(kMaxDocumentTreeDepth)));
  EXPECT_EQ(CountRows("documents"), kMaxDocumentTreeDepth);
  EXPECT_EQ(Query("SELECT count(*) FROM documents WHERE parent_id IS NULL"), 1);
}

TEST_F(IngestTest, MalformedOrDanglingDocumentsInATreeStoreNothing) {
  DocumentTree empty_path{MakeDocument("/m.eml"), {}, {Leaf(MakeDocument(""))}};
  EXPECT_EQ(CODE_OF(catalog_->AddDocumentTree(empty_path)), StatusCode::kInvalidArgument);

  Document bad_json = MakeDocument("/m.eml", "a.txt");
  bad_json.metadata = "{";
  EXPECT_EQ(CODE_OF(catalog_->AddDocumentTree({MakeDocument("/m.eml"), {}, {Leaf(bad_json)}})),
            StatusCode::kInvalidArgument);

  Document elsewhere = MakeDocument("/m.eml", "a.txt");
  elsewhere.collection_id = 77;
  Result<int64_t> id = catalog_->AddDocumentTree({MakeDocument("/m.eml"), {}, {Leaf(elsewhere)}});
  EXPECT_EQ(CODE_OF(id), StatusCode::kFailedPrecondition);
  EXPECT_NE(id.status().message().find("collection 77"), std::string::npos);

  Document no_job = MakeDocument("/m.eml");
  no_job.job_id = 404;
  EXPECT_EQ(CODE_OF(catalog_->AddDocumentTree(Leaf(no_job))), StatusCode::kFailedPrecondition);

  Document no_parent = MakeDocument("/m.eml");
  no_parent.parent_id = 405;
  EXPECT_EQ(CODE_OF(catalog_->AddDocumentTree(Leaf(no_parent))), StatusCode::kFailedPrecondition);

  Chunk backwards = MakeChunk(0, "x");
  backwards.page_start = 3;
  backwards.page_end = 2;
  EXPECT_EQ(CODE_OF(catalog_->AddDocumentTree(Leaf(MakeDocument("/m.eml"), {backwards}))),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CountRows("documents"), 0);
}

// ---- FinalizeJobDocuments and DiscardJobDocuments ----

TEST_F(IngestTest, FinalizeReplacesOlderDocumentsAtThePathAndShowsTheJobsOwn) {
  // What an earlier ingestion of /in/a.eml left: a message with an attachment, chunks, a vector.
  Document old = MakeDocument("/in/a.eml");
  old.status = DocumentStatus::kReady;
  Document old_child = MakeDocument("/in/a.eml", "old.pdf");
  old_child.status = DocumentStatus::kReady;
  int64_t old_id = AddTree({old, {MakeChunk(0, "walrus")}, {Leaf(old_child, {MakeChunk(0, "x")})}});
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> old_chunks, catalog_->GetChunks(old_id));
  ASSERT_OK(catalog_->PutEmbeddings("m", {{old_chunks[0].id, {1.0f}}}));
  int64_t earlier_job = NewJob("/in/a.eml");
  Document earlier = MakeDocument("/in/a.eml");
  earlier.job_id = earlier_job;
  earlier.status = DocumentStatus::kReady;
  int64_t earlier_id = AddTree(Leaf(earlier, {MakeChunk(0, "walrus again")}));
  int64_t neighbour = AddReady("/in/b.eml", "walrus next door");

  int64_t job = NewJob("/in/a.eml");
  Document fresh = MakeDocument("/in/a.eml");
  fresh.job_id = job;
  Document damaged = MakeDocument("/in/a.eml", "scan.pdf");
  damaged.error = "page 2 unreadable";
  Document broken = MakeDocument("/in/a.eml", "locked.pdf");
  broken.status = DocumentStatus::kFailed;
  broken.error = "encrypted";
  int64_t fresh_id = AddTree({fresh,
                              {MakeChunk(0, "penguin")},
                              {Leaf(damaged, {MakeChunk(0, "penguin scan")}), Leaf(broken)}});
  int64_t other_queued = AddTree(Leaf(MakeDocument("/in/c.eml"), {MakeChunk(0, "penguin c")}));
  ASSERT_EQ(Hits("penguin"), 0u);  // queued: invisible until finalized
  Exec("UPDATE documents SET updated_at = 0");

  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> replaced,
                       catalog_->ChunkIdsReplacedByJob(job, "/in/a.eml"));
  ASSERT_EQ(replaced.size(), 3u);  // the old message, its attachment and the earlier job's
  EXPECT_EQ(replaced[0], old_chunks[0].id);

  ASSERT_OK(catalog_->FinalizeJobDocuments(job, "/in/a.eml"));
  for (int64_t id : replaced) EXPECT_EQ(CODE_OF(catalog_->GetChunk(id)), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(replaced, catalog_->ChunkIdsReplacedByJob(job, "/in/a.eml"));
  EXPECT_TRUE(replaced.empty());
  ASSERT_OK_AND_ASSIGN(std::vector<Document> at_path, catalog_->DocumentsAtPath("/in/a.eml"));
  ASSERT_EQ(at_path.size(), 1u);
  EXPECT_EQ(at_path[0].id, fresh_id);
  EXPECT_EQ(at_path[0].status, DocumentStatus::kReady);
  EXPECT_GT(at_path[0].updated_at, 0);
  EXPECT_EQ(CODE_OF(catalog_->GetDocument(old_id)), StatusCode::kNotFound);
  EXPECT_EQ(CODE_OF(catalog_->GetDocument(earlier_id)), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<Document> docs, catalog_->ListDocuments(0, 10));
  ASSERT_EQ(docs.size(), 5u);  // neighbour, fresh with its two children, other_queued
  EXPECT_EQ(docs[0].id, neighbour);
  EXPECT_EQ(docs[2].status, DocumentStatus::kPartial);
  EXPECT_EQ(docs[2].error, "page 2 unreadable");
  EXPECT_GT(docs[2].updated_at, 0);
  EXPECT_EQ(docs[3].status, DocumentStatus::kFailed);
  EXPECT_EQ(docs[3].updated_at, 0);  // untouched
  EXPECT_EQ(docs[4].id, other_queued);
  EXPECT_EQ(docs[4].status, DocumentStatus::kQueued);
  EXPECT_EQ(Hits("penguin"), 2u);
  EXPECT_EQ(Hits("walrus"), 1u);  // only next door
  EXPECT_EQ(CountRows("embeddings"), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM chunks_fts_docsize"), CountRows("chunks"));
  ASSERT_OK_AND_ASSIGN(Job earlier_record, catalog_->GetJob(earlier_job));
  EXPECT_EQ(earlier_record.path, "/in/a.eml");  // jobs keep their history
}

TEST_F(IngestTest, FinalizeWithAnEmptyPathOrAnUnknownJobFails) {
  int64_t job = NewJob("/a");
  EXPECT_EQ(catalog_->FinalizeJobDocuments(job, "").code(), StatusCode::kInvalidArgument);
  Status status = catalog_->FinalizeJobDocuments(job + 1, "/a");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("job " + std::to_string(job + 1)), std::string::npos);
}

TEST_F(IngestTest, DiscardDeletesTheJobsQueuedDocumentsCountingEveryRowThatGoes) {
  int64_t job = NewJob("/in/a.eml");
  Document root = MakeDocument("/in/a.eml");
  root.job_id = job;
  Document inner = MakeDocument("/in/a.eml", "fwd.eml");
  inner.job_id = std::nullopt;  // inherits the job
  DocumentTree tree{root,
                    {MakeChunk(0, "penguin")},
                    {{inner, {}, {Leaf(MakeDocument("/in/a.eml", "x.pdf"))}},
                     Leaf(MakeDocument("/in/a.eml", "y.pdf"), {MakeChunk(0, "y")})}};
  AddTree(tree);
  Document finished = MakeDocument("/in/old.eml");
  finished.job_id = job;
  finished.status = DocumentStatus::kReady;
  int64_t kept = AddTree(Leaf(finished));
  Document failed = MakeDocument("/in/c.eml");
  failed.job_id = job;
  failed.status = DocumentStatus::kFailed;
  int64_t failed_id = AddTree({failed, {}, {Leaf(MakeDocument("/in/c.eml", "queued.pdf"))}});
  int64_t other_job = NewJob("/in/b.eml");
  Document others = MakeDocument("/in/b.eml");
  others.job_id = other_job;
  int64_t others_id = AddTree(Leaf(others));

  ASSERT_OK_AND_ASSIGN(int removed, catalog_->DiscardJobDocuments(job));
  EXPECT_EQ(removed, 5);  // the tree of four, and the queued attachment of the failed message
  ASSERT_OK_AND_ASSIGN(std::vector<Document> docs, catalog_->ListDocuments(0, 10));
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].id, kept);
  EXPECT_EQ(docs[1].id, failed_id);
  EXPECT_EQ(docs[2].id, others_id);
  EXPECT_EQ(CountRows("chunks"), 0);
  ASSERT_OK_AND_ASSIGN(removed, catalog_->DiscardJobDocuments(job));
  EXPECT_EQ(removed, 0);
}

TEST_F(IngestTest, DiscardForAnUnknownJobIsNotFound) {
  EXPECT_EQ(CODE_OF(catalog_->DiscardJobDocuments(12)), StatusCode::kNotFound);
}

// ---- Renames, moves and deletions ----

TEST_F(IngestTest, RenameDocumentsMovesDocumentsAndAttachmentsAtExactlyThatPath) {
  Document mail = MakeDocument("/in/a.eml");
  AddTree({mail, {}, {Leaf(MakeDocument("/in/a.eml", "x.pdf"))}});
  AddTree(Leaf(MakeDocument("/in/a.eml2")));
  ASSERT_OK_AND_ASSIGN(int changed, catalog_->RenameDocuments("/in/a.eml", "/in/b.eml"));
  EXPECT_EQ(changed, 2);
  EXPECT_EQ(Paths(), (std::vector<std::string>{"/in/b.eml", "/in/b.eml", "/in/a.eml2"}));
  ASSERT_OK_AND_ASSIGN(changed, catalog_->RenameDocuments("/in/nothing", "/in/z"));
  EXPECT_EQ(changed, 0);
}

TEST_F(IngestTest, RenameDocumentsWithAnEmptyPathIsInvalidArgument) {
  EXPECT_EQ(CODE_OF(catalog_->RenameDocuments("", "/b")), StatusCode::kInvalidArgument);
  EXPECT_EQ(CODE_OF(catalog_->RenameDocuments("/a", "")), StatusCode::kInvalidArgument);
}

TEST_F(IngestTest, RenameDocumentsUnderReplacesOnlyTheFoldersPrefixTakingWildcardsLiterally) {
  const std::vector<std::string> paths = {"/in/a_b.txt", "/in/a%b.txt", "/in/sub/ü.txt", "/in",
                                          "/inbox/x",    "/in_x/y",     "/i%/z",         "/in0"};
  for (const std::string& path : paths) AddTree(Leaf(MakeDocument(path)));
  AddTree({MakeDocument("/in/m.eml"), {}, {Leaf(MakeDocument("/in/m.eml", "p.pdf"))}});
  ASSERT_OK_AND_ASSIGN(int changed, catalog_->RenameDocumentsUnder("/in", "/archive/ß"));
  EXPECT_EQ(changed, 5);
  EXPECT_EQ(Paths(),
            (std::vector<std::string>{"/archive/ß/a_b.txt", "/archive/ß/a%b.txt",
                                      "/archive/ß/sub/ü.txt", "/in", "/inbox/x", "/in_x/y", "/i%/z",
                                      "/in0", "/archive/ß/m.eml", "/archive/ß/m.eml"}));
  ASSERT_OK_AND_ASSIGN(changed, catalog_->RenameDocumentsUnder("/i%", "/j"));
  EXPECT_EQ(changed, 1);
  ASSERT_OK_AND_ASSIGN(changed, catalog_->RenameDocumentsUnder("/archive/ß/", "/ü/"));
  EXPECT_EQ(changed, 5);
  EXPECT_EQ(Paths()[2], "/ü/sub/ü.txt");
  EXPECT_EQ(Paths()[6], "/j/z");
}

TEST_F(IngestTest, FolderArgumentsThatAreEmptyAreInvalidArgument) {
  EXPECT_EQ(CODE_OF(catalog_->RenameDocumentsUnder("", "/b")), StatusCode::kInvalidArgument);
  EXPECT_EQ(CODE_OF(catalog_->RenameDocumentsUnder("/a", "")), StatusCode::kInvalidArgument);
  EXPECT_EQ(CODE_OF(catalog_->DeleteDocumentsUnder("")), StatusCode::kInvalidArgument);
  EXPECT_EQ(CODE_OF(catalog_->ChunkIdsUnder("")), StatusCode::kInvalidArgument);
}

TEST_F(IngestTest, DeleteDocumentsAtPathRemovesEveryTopLevelDocumentThereWithItsContents) {
  int64_t first = AddTree({MakeDocument("/in/a.eml"),
                           {MakeChunk(0, "walrus")},
                           {Leaf(MakeDocument("/in/a.eml#x.pdf"), {MakeChunk(0, "tusk")})}});
  int64_t second = AddTree(Leaf(MakeDocument("/in/a.eml"), {MakeChunk(0, "walrus two")}));
  AddReady("/in/b.eml", "walrus b");
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> first_chunks, catalog_->GetChunks(first));
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> second_chunks, catalog_->GetChunks(second));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, catalog_->ChunkIdsAtPath("/in/a.eml"));
  // The attachment's chunk (its path carries a suffix) counts: it goes with its parent.
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], first_chunks[0].id);
  EXPECT_EQ(ids[2], second_chunks[0].id);
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);

  ASSERT_OK_AND_ASSIGN(int deleted, catalog_->DeleteDocumentsAtPath("/in/a.eml"));
  EXPECT_EQ(deleted, 2);
  EXPECT_EQ(Paths(), (std::vector<std::string>{"/in/b.eml"}));
  EXPECT_EQ(CountRows("chunks"), 1);
  for (int64_t id : ids) EXPECT_EQ(CODE_OF(catalog_->GetChunk(id)), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(ids, catalog_->ChunkIdsAtPath("/in/a.eml"));
  EXPECT_TRUE(ids.empty());
  ASSERT_OK_AND_ASSIGN(deleted, catalog_->DeleteDocumentsAtPath("/in/a.eml"));
  EXPECT_EQ(deleted, 0);
}

TEST_F(IngestTest, DeleteDocumentsUnderFollowsThePrefixRuleAndMatchesChunkIdsUnder) {
  AddReady("/ab/x", "kept because _ is no wildcard");
  AddReady("/inbox/y", "kept because /in is not /inbox");
  AddReady("/in", "kept because it is the folder's own name");
  int64_t a = AddReady("/in/a", "gone");
  int64_t nested = AddTree({MakeDocument("/in/deep/m.eml"),
                            {MakeChunk(0, "gone")},
                            {Leaf(MakeDocument("/in/deep/m.eml", "p.pdf"), {MakeChunk(0, "g")})}});
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> wildcard, catalog_->ChunkIdsUnder("/a_"));
  EXPECT_TRUE(wildcard.empty());
  ASSERT_OK_AND_ASSIGN(int deleted, catalog_->DeleteDocumentsUnder("/a_"));
  EXPECT_EQ(deleted, 0);

  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, catalog_->ChunkIdsUnder("/in"));
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> a_chunks, catalog_->GetChunks(a));
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> nested_chunks, catalog_->GetChunks(nested));
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], a_chunks[0].id);
  EXPECT_EQ(ids[1], nested_chunks[0].id);
  ASSERT_OK_AND_ASSIGN(deleted, catalog_->DeleteDocumentsUnder("/in/"));
  EXPECT_EQ(deleted, 2);
  EXPECT_EQ(Paths(), (std::vector<std::string>{"/ab/x", "/inbox/y", "/in"}));
  EXPECT_EQ(CountRows("chunks"), 3);
}

// ---- Lookups ----

TEST_F(IngestTest, DocumentsWithHashListsTopLevelDocumentsOfAnyStatusOldestFirst) {
  Document first = MakeDocument("/a.pdf");
  first.content_hash = "same";
  first.status = DocumentStatus::kFailed;
  Document attachment = MakeDocument("/m.eml", "a.pdf");
  attachment.content_hash = "same";
  int64_t first_id = AddTree(Leaf(first));
  AddTree({MakeDocument("/m.eml"), {}, {Leaf(attachment)}});
  Document second = first;
  second.path = "/copy/a.pdf";
  second.status = DocumentStatus::kReady;
  int64_t second_id = AddTree(Leaf(second));
  ASSERT_OK_AND_ASSIGN(int64_t legal, catalog_->EnsureCollection("legal", ""));
  Document elsewhere = first;
  elsewhere.collection_id = legal;
  AddTree(Leaf(elsewhere));

  ASSERT_OK_AND_ASSIGN(std::vector<Document> docs, catalog_->DocumentsWithHash(1, "same"));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, first_id);
  EXPECT_EQ(docs[0].status, DocumentStatus::kFailed);
  EXPECT_EQ(docs[1].id, second_id);
  ASSERT_OK_AND_ASSIGN(docs, catalog_->DocumentsWithHash(1, "other"));
  EXPECT_TRUE(docs.empty());
}

TEST_F(IngestTest, DocumentsAtPathListsTopLevelDocumentsOldestFirst) {
  int64_t first = AddTree({MakeDocument("/in/a.eml"), {}, {Leaf(MakeDocument("/in/a.eml", "x"))}});
  AddTree(Leaf(MakeDocument("/in/a.eml2")));
  int64_t second = AddTree(Leaf(MakeDocument("/in/a.eml")));
  ASSERT_OK_AND_ASSIGN(std::vector<Document> docs, catalog_->DocumentsAtPath("/in/a.eml"));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, first);
  EXPECT_EQ(docs[1].id, second);
  ASSERT_OK_AND_ASSIGN(docs, catalog_->DocumentsAtPath("/in/none"));
  EXPECT_TRUE(docs.empty());
}

}  // namespace
}  // namespace cloister::storage
