// Retrieval end to end: lexical, vector (tiny random embedding model) and hybrid modes over the
// real pipeline; the vector index kept consistent with the catalog.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <tuple>

#include "cloister/app/knowledge_base.h"
#include "cloister/core/files.h"
#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class RetrievalTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.ingest.worker_binary = CLOISTER_BINARY;
    Write(dir_ / "docs/refunds.txt",
          "Refund policy. Customers may return goods within thirty days for a full refund.");
    Write(dir_ / "docs/parking.txt", "Parking rules. Staff park in the north lot after six.");
    Write(dir_ / "docs/badges.md", "# Badges\n\nVisitors collect a badge at reception.");
    Write(dir_ / "docs/note.eml",
          "From: Ann <ann@example.org>\r\nTo: team@example.org\r\nSubject: Lunch\r\n"
          "Date: Mon, 4 Mar 2024 10:00:00 +0000\r\n\r\nThe canteen opens at noon.\r\n");
  }
  void WithEmbeddingModel() {
    fs::create_directories(config_.models_dir);
    fs::copy_file(fixtures::TinyEmbeddingModel(), config_.models_dir / "tiny-embed.gguf");
  }
  void Open() {
    kb_.reset();
    auto kb = KnowledgeBase::Open(config_);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
  }
  void IngestDocs() {
    auto r = kb_->Ingest({dir_ / "docs"}, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->failed.size(), 0u);
  }
  SearchResults Find(const std::string& q, SearchMode mode, int k = 10, SearchFilters f = {}) {
    SearchOptions o;
    o.k = k;
    o.mode = mode;
    o.filters = std::move(f);
    auto r = kb_->Search(cloister::app::Caller::Everything(), q, o);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status().ToString();
    return r.ok() ? *r : SearchResults{};
  }
  std::vector<int64_t> Ids(const SearchResults& r) {
    std::vector<int64_t> ids;
    for (const auto& h : r.results) ids.push_back(h.chunk_id);
    return ids;
  }

  fixtures::TempDir dir_;
  Config config_;
  std::unique_ptr<KnowledgeBase> kb_;
};

TEST_F(RetrievalTest, WithoutAModelSearchIsLexicalAndRanksTheAnswerFirst) {
  Open();
  IngestDocs();
  SearchResults r = Find("how many days do customers have for a refund", SearchMode::kAuto);
  EXPECT_EQ(r.mode, "lexical");
  ASSERT_FALSE(r.results.empty());
  EXPECT_EQ(fs::path(r.results[0].path).filename(), "refunds.txt");
  auto vector = kb_->Search(cloister::app::Caller::Everything(), "refund", SearchOptions{.k = 5, .mode = SearchMode::kVector});
  EXPECT_EQ(vector.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(RetrievalTest, WithAModelSearchIsHybridAndVectorModeIsDeterministic) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  auto status = kb_->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->retrieval_mode, "hybrid");
  EXPECT_EQ(status->embeddings, status->chunks);
  EXPECT_EQ(status->index_size, status->chunks);

  SearchResults hybrid = Find("refund policy", SearchMode::kAuto);
  EXPECT_EQ(hybrid.mode, "hybrid");
  ASSERT_FALSE(hybrid.results.empty());
  EXPECT_EQ(fs::path(hybrid.results[0].path).filename(), "refunds.txt");

  SearchResults v1 = Find("Visitors collect a badge at reception.", SearchMode::kVector);
  SearchResults v2 = Find("Visitors collect a badge at reception.", SearchMode::kVector);
  EXPECT_EQ(v1.mode, "vector");
  ASSERT_EQ(v1.results.size(), 4u);  // every chunk, ranked
  EXPECT_EQ(Ids(v1), Ids(v2));
}

// Searches run side by side on connections of their own, while a document is ingested: each
// gets the results it gets alone.
TEST_F(RetrievalTest, ConcurrentSearchesGiveTheResultsEachGivesAlone) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  const std::vector<std::string> queries = {"refund policy", "where do staff park", "badge reception",
                                            "canteen noon"};
  std::vector<std::vector<int64_t>> alone;
  for (const auto& q : queries) alone.push_back(Ids(Find(q, SearchMode::kHybrid)));
  Write(dir_ / "late/lockers.txt", "Lockers. Each employee gets a locker key from facilities.");
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        size_t q = static_cast<size_t>(t + i) % queries.size();
        auto r = kb_->Search(cloister::app::Caller::Everything(), queries[q], SearchOptions{.k = 10, .mode = SearchMode::kHybrid});
        if (!r.ok()) {
          ++errors;
        } else if (Ids(*r) != alone[q]) {
          ++mismatches;
        }
      }
    });
  }
  auto late = kb_->Ingest({dir_ / "late"}, {});
  for (auto& th : threads) th.join();
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(mismatches, 0);  // the late document matches none of the queries' words
}

TEST_F(RetrievalTest, EmbedGivesTheModelsVectorsForAnyText) {
  Open();
  EXPECT_EQ(kb_->Embed({"refund"}, false).status().code(), StatusCode::kFailedPrecondition);
  WithEmbeddingModel();
  Open();
  auto e = kb_->Embed({"refund policy", "parking"}, false);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->model, "tiny-embed.gguf");
  ASSERT_EQ(e->vectors.size(), 2u);
  EXPECT_EQ(static_cast<int>(e->vectors[0].size()), fixtures::kTinyEmbeddingDimension);
  EXPECT_NE(e->vectors[0], e->vectors[1]);
  EXPECT_GE(e->tokens, 3);
  auto again = kb_->Embed({"refund policy"}, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->vectors[0], e->vectors[0]);
  EXPECT_EQ(kb_->Embed({}, false).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RetrievalTest, ADeletedDocumentLeavesEveryModeAtOnce) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  SearchResults before = Find("parking north lot", SearchMode::kLexical);
  ASSERT_FALSE(before.results.empty());
  int64_t doc = before.results[0].document_id;
  ASSERT_TRUE(kb_->DeleteDocument(doc).ok());
  for (SearchMode mode : {SearchMode::kLexical, SearchMode::kVector, SearchMode::kHybrid}) {
    for (const auto& h : Find("parking north lot", mode).results) EXPECT_NE(h.document_id, doc);
  }
  EXPECT_EQ(kb_->DeleteDocument(doc).code(), StatusCode::kNotFound);
  EXPECT_EQ(kb_->Status(cloister::app::Caller::Everything())->index_size, kb_->Status(cloister::app::Caller::Everything())->chunks);
}

TEST_F(RetrievalTest, ACorruptOrMissingIndexIsRebuiltFromTheStoredEmbeddingsWithIdenticalResults) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  std::vector<int64_t> expected = Ids(Find("canteen noon", SearchMode::kVector));
  int64_t embeddings = kb_->Status(cloister::app::Caller::Everything())->embeddings;
  kb_.reset();
  ASSERT_TRUE(WriteFileAtomic(config_.index_path("tiny-embed.gguf"), "not a faiss index").ok());
  Open();
  EXPECT_EQ(Ids(Find("canteen noon", SearchMode::kVector)), expected);
  EXPECT_EQ(kb_->Status(cloister::app::Caller::Everything())->embeddings, embeddings);  // rebuilt, not re-embedded
  kb_.reset();
  fs::remove(config_.index_path("tiny-embed.gguf"));
  Open();
  EXPECT_EQ(Ids(Find("canteen noon", SearchMode::kVector)), expected);
  EXPECT_TRUE(fs::exists(config_.index_path("tiny-embed.gguf")));
}

TEST_F(RetrievalTest, TheIndexBecomesApproximateWhenTheCollectionGrowsPastTheThreshold) {
  WithEmbeddingModel();
  config_.index.exact_below = 3;  // four chunks: past it
  Open();
  IngestDocs();
  auto status = kb_->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(status.ok());
  EXPECT_NE(status->index_kind.find("IVF"), std::string::npos) << status->index_kind;
  EXPECT_EQ(status->index_size, status->chunks);
  EXPECT_FALSE(Find("canteen noon", SearchMode::kVector).results.empty());
  // Removing most of the collection compacts (or rebuilds) and search still answers.
  SearchResults all = Find("refund parking badge canteen", SearchMode::kLexical);
  for (size_t i = 0; i + 1 < all.results.size(); ++i) (void)kb_->DeleteDocument(all.results[i].document_id);
  EXPECT_EQ(kb_->Status(cloister::app::Caller::Everything())->index_size, kb_->Status(cloister::app::Caller::Everything())->chunks);
}

TEST_F(RetrievalTest, HostileQueriesReturnResultsOrNothingInEveryMode) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  std::vector<std::string> queries = {"\"", "NEAR(", "*", "AND", "-refund", "(((", "", "   ",
                                      "!!! ??? ...", "😀🎉", std::string(10240, 'x'),
                                      "refund\" OR \"x", "policy NEAR(a b)"};
  for (const auto& q : queries) {
    for (SearchMode mode : {SearchMode::kLexical, SearchMode::kVector, SearchMode::kHybrid}) {
      SearchOptions o;
      o.mode = mode;
      auto r = kb_->Search(cloister::app::Caller::Everything(), q, o);
      EXPECT_TRUE(r.ok()) << "query '" << q.substr(0, 20) << "': " << r.status().ToString();
    }
  }
}

TEST_F(RetrievalTest, FiltersRestrictEveryMode) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  for (SearchMode mode : {SearchMode::kLexical, SearchMode::kVector, SearchMode::kHybrid}) {
    SearchResults mail = Find("canteen refund parking", mode, 10, {.types = {"email"}});
    ASSERT_FALSE(mail.results.empty());
    for (const auto& h : mail.results) EXPECT_EQ(h.type, "email");
    SearchResults ann = Find("canteen", mode, 10, {.from = "ann@"});
    for (const auto& h : ann.results) EXPECT_EQ(fs::path(h.path).filename(), "note.eml");
    EXPECT_TRUE(Find("canteen", mode, 10, {.from = "nobody"}).results.empty());
  }
  auto unknown = kb_->Search(cloister::app::Caller::Everything(), "x", SearchOptions{.filters = {.collections = {"no-such"}}});
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
}

// The old model's vectors answer queries until every chunk has a vector from the new one; then
// search switches, and the old vectors and index go.
TEST_F(RetrievalTest, ChangingTheEmbeddingModelReembedsWhileTheOldVectorsServe) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  std::vector<int64_t> before = Ids(Find("canteen noon", SearchMode::kVector));
  ASSERT_FALSE(before.empty());
  kb_.reset();
  // Sorts before tiny-embed.gguf, so it is the model in use now.
  fs::copy_file(fixtures::OtherTinyEmbeddingModel(), config_.models_dir / "a-other-embed.gguf");
  Open();
  auto status = kb_->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(status->reembedding.has_value());
  EXPECT_EQ(status->reembedding->from, "tiny-embed.gguf");
  EXPECT_EQ(status->reembedding->to, "a-other-embed.gguf");
  EXPECT_EQ(status->reembedding->done, 0);
  EXPECT_EQ(status->reembedding->total, status->chunks);
  EXPECT_TRUE(status->reembedding->old_vectors_serve);
  EXPECT_EQ(status->retrieval_mode, "hybrid");
  EXPECT_EQ(Ids(Find("canteen noon", SearchMode::kVector)), before);  // the old vectors serve

  // Ingested meanwhile: embedded by both models, searchable at once through the old one.
  Write(dir_ / "more/late.txt", "Late arrivals sign the register at the gate.");
  auto late = kb_->Ingest({dir_ / "more"}, {});
  ASSERT_TRUE(late.ok());
  ASSERT_EQ(late->ingested.size(), 1u);
  status = kb_->Status(cloister::app::Caller::Everything());
  EXPECT_EQ(status->reembedding->done, late->chunks);
  EXPECT_EQ(Find("register gate", SearchMode::kVector).results.size(), static_cast<size_t>(status->chunks));

  std::vector<int64_t> seen;
  ASSERT_TRUE(kb_->Reembed([&](const StatusReport::Reembedding& p) {
    EXPECT_EQ(p.to, "a-other-embed.gguf");
    seen.push_back(p.done);
  }).ok());
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.back(), status->chunks);

  status = kb_->Status(cloister::app::Caller::Everything());
  EXPECT_FALSE(status->reembedding.has_value());
  EXPECT_EQ(status->embeddings, status->chunks);  // the old model's vectors are gone
  EXPECT_EQ(status->index_size, status->chunks);
  EXPECT_TRUE(fs::exists(config_.index_path("a-other-embed.gguf")));
  EXPECT_FALSE(fs::exists(config_.index_path("tiny-embed.gguf")));
  std::vector<int64_t> after = Ids(Find("canteen noon", SearchMode::kVector));
  EXPECT_EQ(after.size(), static_cast<size_t>(status->chunks));
  kb_.reset();
  Open();  // the switch is durable: no re-embedding, the same answers
  EXPECT_FALSE(kb_->Status(cloister::app::Caller::Everything())->reembedding.has_value());
  EXPECT_EQ(Ids(Find("canteen noon", SearchMode::kVector)), after);
  EXPECT_TRUE(kb_->Reembed({}).ok());  // nothing to do
}

TEST_F(RetrievalTest, ANewDocumentPrefixReembedsTheCollectionWithIt) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  kb_.reset();
  config_.retrieval.document_prefix = "passage: ";
  Open();
  auto status = kb_->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(status->reembedding.has_value());
  EXPECT_EQ(status->reembedding->from, "tiny-embed.gguf");
  EXPECT_EQ(status->reembedding->to.rfind("tiny-embed.gguf#document-prefix-", 0), 0u) << status->reembedding->to;
  EXPECT_TRUE(status->reembedding->old_vectors_serve);
  EXPECT_EQ(Find("canteen noon", SearchMode::kVector).mode, "vector");
  ASSERT_TRUE(kb_->Reembed({}).ok());
  status = kb_->Status(cloister::app::Caller::Everything());
  EXPECT_FALSE(status->reembedding.has_value());
  EXPECT_EQ(status->embeddings, status->chunks);
}

TEST_F(RetrievalTest, FusionWeightsComeFromTheConfiguration) {
  WithEmbeddingModel();
  const std::string q = "staff park";
  for (auto [vector_weight, lexical_weight, like] :
       {std::tuple{0.0, 1.0, SearchMode::kLexical}, std::tuple{1.0, 0.0, SearchMode::kVector}}) {
    config_.retrieval.vector_weight = vector_weight;
    config_.retrieval.lexical_weight = lexical_weight;
    config_.retrieval.rrf_k = 10;
    Open();
    if (kb_->Status(cloister::app::Caller::Everything())->chunks == 0) IngestDocs();
    auto fused = kb_->Search(cloister::app::Caller::Everything(), q, 10);
    ASSERT_TRUE(fused.ok());
    EXPECT_EQ(fused->mode, "hybrid");
    SearchResults alone = Find(q, like);
    ASSERT_FALSE(alone.results.empty());
    EXPECT_EQ(fused->results.at(0).chunk_id, alone.results[0].chunk_id) << "weights " << vector_weight << "/" << lexical_weight;
    EXPECT_EQ(SearchDefaults(config_).rrf_k, 10);
  }
  // Only meaningful if the two rankings disagree at the top.
  EXPECT_NE(Find(q, SearchMode::kLexical).results.at(0).chunk_id, Find(q, SearchMode::kVector).results.at(0).chunk_id);
}

TEST_F(RetrievalTest, WithThePreviousModelGoneSearchIsLexicalUntilTheBackgroundReembeddingFinishes) {
  WithEmbeddingModel();
  Open();
  IngestDocs();
  kb_.reset();
  fs::remove(config_.models_dir / "tiny-embed.gguf");
  fs::copy_file(fixtures::OtherTinyEmbeddingModel(), config_.models_dir / "other-embed.gguf");
  config_.inbox_dir = dir_ / "inbox";
  fs::create_directories(config_.inbox_dir);
  Open();
  auto status = kb_->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(status->reembedding.has_value());
  EXPECT_FALSE(status->reembedding->old_vectors_serve);
  EXPECT_EQ(status->retrieval_mode, "lexical");
  SearchResults r = Find("refund policy", SearchMode::kAuto);
  EXPECT_EQ(r.mode, "lexical");
  EXPECT_FALSE(r.results.empty());
  auto vector = kb_->Search(cloister::app::Caller::Everything(), "refund", SearchOptions{.mode = SearchMode::kVector});
  EXPECT_EQ(vector.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(vector.status().message().find("re-embedding"), std::string::npos) << vector.status().message();

  ASSERT_TRUE(kb_->StartBackground().ok());
  for (int i = 0; i < 600 && kb_->Status(cloister::app::Caller::Everything())->reembedding.has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(kb_->Status(cloister::app::Caller::Everything())->reembedding.has_value()) << "re-embedding did not finish in 30 s";
  r = Find("refund policy", SearchMode::kAuto);
  EXPECT_EQ(r.mode, "hybrid");
  EXPECT_EQ(fs::path(r.results.at(0).path).filename(), "refunds.txt");
  EXPECT_EQ(kb_->Status(cloister::app::Caller::Everything())->index_size, kb_->Status(cloister::app::Caller::Everything())->chunks);
  kb_->StopBackground();
}

}  // namespace
}  // namespace cloister::app
