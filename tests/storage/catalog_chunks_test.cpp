// Chunks and embeddings in the catalog.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "cloister/storage/catalog.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

Chunk MakeChunk(int ordinal, std::string text) {
  Chunk chunk;
  chunk.ordinal = ordinal;
  chunk.text = std::move(text);
  return chunk;
}

class ChunkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_ / "catalog.db"));
    Document doc;
    doc.collection_id = 1;
    doc.path = "/docs/manual.pdf";
    doc.title = "Manual";
    doc.status = DocumentStatus::kReady;  // searchable
    ASSERT_OK_AND_ASSIGN(doc_id_, catalog_->AddDocument(doc));
  }

  size_t Hits(std::string_view query) {
    Result<std::vector<LexicalHit>> hits = catalog_->SearchLexical(query, 10);
    EXPECT_TRUE(hits.ok()) << hits.status().ToString();
    return hits.ok() ? hits->size() : 0;
  }

  // Rows of `table` counted through a second connection, so nothing is hidden by the catalog.
  int64_t CountRows(const std::string& table) {
    Result<Database> db = Database::Open(dir_ / "catalog.db");
    if (!db.ok()) return -1;
    Result<int64_t> count = db->QueryInt64("SELECT count(*) FROM " + table);
    return count.ok() ? *count : -1;
  }

  TempDir dir_;
  std::optional<Catalog> catalog_;
  int64_t doc_id_ = 0;
};

TEST_F(ChunkTest, ReplaceChunksStoresEveryFieldAndReturnsIdsInOrder) {
  Chunk first = MakeChunk(0, "Install the pump.");
  first.page_start = 2;
  first.page_end = 3;
  first.heading = "Installation";
  first.metadata = R"({"kind": "body"})";
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids,
                       catalog_->ReplaceChunks(doc_id_, {first, MakeChunk(1, "Prime it.")}));
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> chunks, catalog_->GetChunks(doc_id_));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].id, ids[0]);
  EXPECT_EQ(chunks[1].id, ids[1]);
  EXPECT_EQ(chunks[0].document_id, doc_id_);
  EXPECT_EQ(chunks[0].text, "Install the pump.");
  EXPECT_EQ(chunks[0].page_start, 2);
  EXPECT_EQ(chunks[0].page_end, 3);
  EXPECT_EQ(chunks[0].heading, "Installation");
  EXPECT_EQ(chunks[0].metadata, first.metadata);
  EXPECT_EQ(chunks[1].page_start, std::nullopt);
  EXPECT_EQ(chunks[1].heading, std::nullopt);
  ASSERT_OK_AND_ASSIGN(Chunk one, catalog_->GetChunk(ids[1]));
  EXPECT_EQ(one.text, "Prime it.");
  EXPECT_EQ(one.ordinal, 1);
}

TEST_F(ChunkTest, ReplaceChunksSwapsTheOldChunksForTheNewInTheIndex) {
  ASSERT_OK(catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "The old walrus text.")}));
  EXPECT_EQ(Hits("walrus"), 1u);
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids,
                       catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "A new penguin text.")}));
  EXPECT_EQ(Hits("walrus"), 0u);
  EXPECT_EQ(Hits("penguin"), 1u);
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> chunks, catalog_->GetChunks(doc_id_));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].id, ids[0]);
}

TEST_F(ChunkTest, FailedReplacementLeavesTheOldChunksIntact) {
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> old_ids,
                       catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "Original walrus.")}));
  Result<std::vector<int64_t>> result =
      catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "New penguin."), MakeChunk(1, "More penguin."),
                                        MakeChunk(1, "Duplicate ordinal penguin.")});
  EXPECT_EQ(CODE_OF(result), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("chunk 2 (ordinal 1)"), std::string::npos)
      << result.status().message();
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> chunks, catalog_->GetChunks(doc_id_));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].id, old_ids[0]);
  EXPECT_EQ(Hits("walrus"), 1u);
  EXPECT_EQ(Hits("penguin"), 0u);
}

TEST_F(ChunkTest, MalformedChunksAreInvalidArgument) {
  Chunk backwards = MakeChunk(0, "x");
  backwards.page_start = 5;
  backwards.page_end = 4;
  EXPECT_EQ(CODE_OF(catalog_->ReplaceChunks(doc_id_, {backwards})), StatusCode::kInvalidArgument);
  Chunk page_zero = MakeChunk(0, "x");
  page_zero.page_start = 0;
  EXPECT_EQ(CODE_OF(catalog_->ReplaceChunks(doc_id_, {page_zero})), StatusCode::kInvalidArgument);
  EXPECT_EQ(CODE_OF(catalog_->ReplaceChunks(doc_id_, {MakeChunk(-1, "x")})),
            StatusCode::kInvalidArgument);
  Chunk bad_json = MakeChunk(0, "x");
  bad_json.metadata = "nope";
  EXPECT_EQ(CODE_OF(catalog_->ReplaceChunks(doc_id_, {bad_json})), StatusCode::kInvalidArgument);
}

TEST_F(ChunkTest, ReplaceChunksOfAMissingDocumentIsNotFound) {
  Result<std::vector<int64_t>> ids = catalog_->ReplaceChunks(doc_id_ + 1, {MakeChunk(0, "x")});
  EXPECT_EQ(CODE_OF(ids), StatusCode::kNotFound);
}

TEST_F(ChunkTest, ReplacingWithNoChunksEmptiesTheDocument) {
  ASSERT_OK(catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "walrus")}));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids, catalog_->ReplaceChunks(doc_id_, {}));
  EXPECT_TRUE(ids.empty());
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> chunks, catalog_->GetChunks(doc_id_));
  EXPECT_TRUE(chunks.empty());
  EXPECT_EQ(Hits("walrus"), 0u);
}

TEST_F(ChunkTest, ChunkIdsAreNeverReused) {
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> first,
                       catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "a"), MakeChunk(1, "b")}));
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> second,
                       catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "a"), MakeChunk(1, "b")}));
  EXPECT_GT(second[0], first[1]);
}

TEST_F(ChunkTest, GetChunkOfAnUnknownIdIsNotFoundAndUnknownDocumentsHaveNoChunks) {
  EXPECT_EQ(CODE_OF(catalog_->GetChunk(12345)), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(std::vector<Chunk> chunks, catalog_->GetChunks(999));
  EXPECT_TRUE(chunks.empty());
}

TEST_F(ChunkTest, DeleteDocumentRemovesChunksIndexEntriesAndEmbeddings) {
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> ids,
                       catalog_->ReplaceChunks(doc_id_, {MakeChunk(0, "walrus tusk")}));
  ASSERT_OK(catalog_->PutEmbeddings("m", {{ids[0], {0.5f}}}));
  ASSERT_EQ(Hits("walrus"), 1u);
  ASSERT_OK(catalog_->DeleteDocument(doc_id_));
  EXPECT_EQ(CODE_OF(catalog_->GetChunk(ids[0])), StatusCode::kNotFound);
  EXPECT_EQ(CODE_OF(catalog_->GetEmbedding(ids[0], "m")), StatusCode::kNotFound);
  EXPECT_EQ(Hits("walrus"), 0u);
  EXPECT_EQ(CountRows("chunks"), 0);
  EXPECT_EQ(CountRows("embeddings"), 0);
  // The FTS index's own term data, not only the content table, is empty again.
  EXPECT_EQ(CountRows("chunks_fts_docsize"), 0);
}

class EmbeddingTest : public ChunkTest {
 protected:
  void SetUp() override {
    ChunkTest::SetUp();
    ASSERT_OK_AND_ASSIGN(chunk_ids_,
                         catalog_->ReplaceChunks(
                             doc_id_, {MakeChunk(0, "a"), MakeChunk(1, "b"), MakeChunk(2, "c")}));
  }

  std::vector<int64_t> chunk_ids_;
};

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_F(EmbeddingTest, VectorsRoundTripBitForBit) {
  const std::vector<float> vector = {0.0f,
                                     -0.0f,
                                     1.0f / 3.0f,
                                     -123456.789f,
                                     std::numeric_limits<float>::denorm_min(),
                                     std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::quiet_NaN()};
  ASSERT_OK(catalog_->PutEmbeddings("bge-small", {{chunk_ids_[0], vector}}));
  ASSERT_OK_AND_ASSIGN(std::vector<float> stored,
                       catalog_->GetEmbedding(chunk_ids_[0], "bge-small"));
  EXPECT_TRUE(SameBits(stored, vector));
}

TEST_F(EmbeddingTest, VectorsAreStoredAsLittleEndianFloat32) {
  ASSERT_OK(catalog_->PutEmbeddings("m", {{chunk_ids_[0], {1.0f, -2.0f}}}));
  ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir_ / "catalog.db"));
  ASSERT_OK_AND_ASSIGN(Statement st, db.Prepare("SELECT dim, vector FROM embeddings"));
  ASSERT_OK(st.Step());
  EXPECT_EQ(st.ColumnInt64(0), 2);
  EXPECT_EQ(st.ColumnBlob(1), std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8));
}

TEST_F(EmbeddingTest, PuttingAgainOverwritesAndModelsAreKeptApart) {
  ASSERT_OK(catalog_->PutEmbeddings("m1", {{chunk_ids_[0], {1.0f, 2.0f}}}));
  ASSERT_OK(catalog_->PutEmbeddings("m1", {{chunk_ids_[0], {3.0f, 4.0f}}}));
  ASSERT_OK(catalog_->PutEmbeddings("m2", {{chunk_ids_[0], {9.0f}}}));
  ASSERT_OK_AND_ASSIGN(std::vector<float> m1, catalog_->GetEmbedding(chunk_ids_[0], "m1"));
  ASSERT_OK_AND_ASSIGN(std::vector<float> m2, catalog_->GetEmbedding(chunk_ids_[0], "m2"));
  EXPECT_EQ(m1, (std::vector<float>{3.0f, 4.0f}));
  EXPECT_EQ(m2, (std::vector<float>{9.0f}));
}

TEST_F(EmbeddingTest, BatchWithAnUnknownChunkIsNotFoundAndStoresNothing) {
  Status status = catalog_->PutEmbeddings("m", {{chunk_ids_[0], {1.0f}}, {987654, {2.0f}}});
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("987654"), std::string::npos) << status.message();
  EXPECT_EQ(CODE_OF(catalog_->GetEmbedding(chunk_ids_[0], "m")), StatusCode::kNotFound);
}

TEST_F(EmbeddingTest, MalformedBatchIsInvalidArgument) {
  EXPECT_EQ(catalog_->PutEmbeddings("", {{chunk_ids_[0], {1.0f}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(catalog_->PutEmbeddings("m", {{chunk_ids_[0], {}}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      catalog_->PutEmbeddings("m", {{chunk_ids_[0], {1.0f}}, {chunk_ids_[1], {1.0f, 2.0f}}}).code(),
      StatusCode::kInvalidArgument);
  EXPECT_OK(catalog_->PutEmbeddings("m", {}));
}

TEST_F(EmbeddingTest, DimensionDifferentFromTheStoredOneIsFailedPrecondition) {
  ASSERT_OK(catalog_->PutEmbeddings("m", {{chunk_ids_[0], {1.0f, 2.0f}}}));
  Status status = catalog_->PutEmbeddings("m", {{chunk_ids_[1], {1.0f, 2.0f, 3.0f}}});
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("dimension 2"), std::string::npos) << status.message();
}

TEST_F(EmbeddingTest, GetEmbeddingWithoutAVectorIsNotFound) {
  EXPECT_EQ(CODE_OF(catalog_->GetEmbedding(chunk_ids_[0], "m")), StatusCode::kNotFound);
}

TEST_F(EmbeddingTest, ForEachEmbeddingStreamsOneModelInChunkOrder) {
  ASSERT_OK(catalog_->PutEmbeddings("m", {{chunk_ids_[2], {3.0f}}, {chunk_ids_[0], {1.0f}}}));
  ASSERT_OK(catalog_->PutEmbeddings("other", {{chunk_ids_[1], {7.0f, 7.0f}}}));
  std::vector<int64_t> seen_ids;
  std::vector<float> seen_values;
  ASSERT_OK(catalog_->ForEachEmbedding("m", [&](int64_t id, std::span<const float> v) {
    seen_ids.push_back(id);
    seen_values.insert(seen_values.end(), v.begin(), v.end());
    return Status::Ok();
  }));
  EXPECT_EQ(seen_ids, (std::vector<int64_t>{chunk_ids_[0], chunk_ids_[2]}));
  EXPECT_EQ(seen_values, (std::vector<float>{1.0f, 3.0f}));
}

TEST_F(EmbeddingTest, ForEachEmbeddingStopsAtTheCallbacksError) {
  ASSERT_OK(catalog_->PutEmbeddings("m", {{chunk_ids_[0], {1.0f}}, {chunk_ids_[1], {2.0f}}}));
  int calls = 0;
  Status status = catalog_->ForEachEmbedding("m", [&](int64_t, std::span<const float>) {
    ++calls;
    return Internal("index full");
  });
  EXPECT_EQ(status.code(), StatusCode::kInternal);
  EXPECT_EQ(status.message(), "index full");
  EXPECT_EQ(calls, 1);
}

TEST_F(EmbeddingTest, VectorOfTheWrongSizeOnDiskIsDataLoss) {
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir_ / "catalog.db"));
    ASSERT_OK(db.Exec("PRAGMA ignore_check_constraints = ON"));
    ASSERT_OK_AND_ASSIGN(Statement st,
                         db.Prepare("INSERT INTO embeddings VALUES (?1, 'm', 4, ?2)"));
    ASSERT_OK(st.Bind(1, chunk_ids_[0]));
    ASSERT_OK(st.Bind(2, Blob(std::string_view("\0\0\0", 3))));
    ASSERT_OK(st.Step());
  }
  EXPECT_EQ(CODE_OF(catalog_->GetEmbedding(chunk_ids_[0], "m")), StatusCode::kDataLoss);
  EXPECT_EQ(
      catalog_->ForEachEmbedding("m", [](int64_t, std::span<const float>) { return Status::Ok(); })
          .code(),
      StatusCode::kDataLoss);
}

TEST_F(EmbeddingTest, ChunksMissingEmbeddingPagesThroughTheChunksAModelLacks) {
  ASSERT_OK(catalog_->PutEmbeddings("old", {{chunk_ids_[0], {1.0f}}, {chunk_ids_[1], {1.0f}},
                                            {chunk_ids_[2], {1.0f}}}));
  ASSERT_OK(catalog_->PutEmbeddings("new", {{chunk_ids_[1], {2.0f, 2.0f}}}));
  ASSERT_OK_AND_ASSIGN(int64_t missing, catalog_->CountChunksMissingEmbedding("new"));
  EXPECT_EQ(missing, 2);
  ASSERT_OK_AND_ASSIGN(auto first, catalog_->ChunksMissingEmbedding("new", 0, 1));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, chunk_ids_[0]);
  EXPECT_EQ(first[0].text, "a");
  ASSERT_OK_AND_ASSIGN(auto rest, catalog_->ChunksMissingEmbedding("new", first[0].id, 10));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].id, chunk_ids_[2]);
  ASSERT_OK_AND_ASSIGN(auto none, catalog_->ChunksMissingEmbedding("old", 0, 10));
  EXPECT_TRUE(none.empty());
}

TEST_F(EmbeddingTest, EmbeddingsAfterPagesThroughOneModelInChunkOrder) {
  ASSERT_OK(catalog_->PutEmbeddings("m", {{chunk_ids_[2], {3.0f}}, {chunk_ids_[0], {1.0f}},
                                          {chunk_ids_[1], {2.0f}}}));
  ASSERT_OK(catalog_->PutEmbeddings("other", {{chunk_ids_[1], {7.0f, 7.0f}}}));
  ASSERT_OK_AND_ASSIGN(auto first, catalog_->EmbeddingsAfter("m", 0, 2));
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].chunk_id, chunk_ids_[0]);
  EXPECT_EQ(first[1].vector, std::vector<float>{2.0f});
  ASSERT_OK_AND_ASSIGN(auto rest, catalog_->EmbeddingsAfter("m", first[1].chunk_id, 2));
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].chunk_id, chunk_ids_[2]);
  ASSERT_OK_AND_ASSIGN(auto end, catalog_->EmbeddingsAfter("m", chunk_ids_[2], 2));
  EXPECT_TRUE(end.empty());
}

TEST_F(EmbeddingTest, DeleteEmbeddingsExceptKeepsOnlyThatModel) {
  ASSERT_OK(catalog_->PutEmbeddings("old", {{chunk_ids_[0], {1.0f}}, {chunk_ids_[1], {1.0f}}}));
  ASSERT_OK(catalog_->PutEmbeddings("new", {{chunk_ids_[1], {2.0f, 2.0f}}}));
  ASSERT_OK_AND_ASSIGN(int64_t removed, catalog_->DeleteEmbeddingsExcept("new"));
  EXPECT_EQ(removed, 2);
  ASSERT_OK_AND_ASSIGN(CatalogStats stats, catalog_->Stats());
  EXPECT_EQ(stats.embeddings_by_model, (std::map<std::string, int64_t>{{"new", 1}}));
}

TEST_F(EmbeddingTest, SettingsRoundTripAndOverwrite) {
  ASSERT_OK_AND_ASSIGN(auto unset, catalog_->GetSetting("embedding_model"));
  EXPECT_FALSE(unset.has_value());
  ASSERT_OK(catalog_->SetSetting("embedding_model", "a.gguf"));
  ASSERT_OK(catalog_->SetSetting("embedding_model", "b.gguf"));
  ASSERT_OK_AND_ASSIGN(auto value, catalog_->GetSetting("embedding_model"));
  EXPECT_EQ(value, std::optional<std::string>("b.gguf"));
  EXPECT_EQ(catalog_->SetSetting("", "x").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloister::storage
