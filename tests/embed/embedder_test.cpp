#include "cloister/embed/embedder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "fixtures/fixtures.h"

namespace cloister::embed {
namespace {

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

std::unique_ptr<Embedder> OpenTiny(EmbedderOptions options = {}) {
  auto e = Embedder::Open(fixtures::TinyEmbeddingModel(), options);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(EmbedderTest, TinyBertEmbedsASentenceAsAFiniteUnitVectorOfTheModelDimension) {
  auto embedder = OpenTiny();
  ASSERT_NE(embedder, nullptr);
  EXPECT_EQ(embedder->dimension(), fixtures::kTinyEmbeddingDimension);
  auto v = embedder->Embed({"The quarterly report is due on Friday."});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 1u);
  const auto& vec = v->front();
  ASSERT_EQ(static_cast<int>(vec.size()), fixtures::kTinyEmbeddingDimension);
  for (float x : vec) ASSERT_TRUE(std::isfinite(x));
  EXPECT_NEAR(Norm(vec), 1.0, 1e-4);
}

TEST(EmbedderTest, IdenticalTextGivesIdenticalVectorsAndDifferentTextDiffers) {
  auto embedder = OpenTiny();
  ASSERT_NE(embedder, nullptr);
  auto v = embedder->Embed({"refund policy", "a completely different subject", "refund policy"});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)[0], (*v)[2]);
  // Random weights map all text close together; different text must still differ.
  EXPECT_NE((*v)[0], (*v)[1]);
}

TEST(EmbedderTest, BatchedResultsEqualOneAtATime) {
  auto embedder = OpenTiny({.threads = 0, .max_tokens = 512, .max_sequences = 3});
  ASSERT_NE(embedder, nullptr);
  std::vector<std::string> texts = {"one", "two words", "three little words", "four", "five five"};
  auto batched = embedder->Embed(texts);
  ASSERT_TRUE(batched.ok());
  for (size_t i = 0; i < texts.size(); ++i) {
    auto single = embedder->Embed({texts[i]});
    ASSERT_TRUE(single.ok());
    EXPECT_GT(Dot((*batched)[i], single->front()), 0.9999) << texts[i];
  }
}

// A decoder model (llama architecture, causal attention, a KV cache) as an embedding model, as
// Qwen3-Embedding is: a text as long as the context must fit however many sequences a batch
// may hold, and batching must not change its vector.
TEST(EmbedderTest, ADecoderModelEmbedsTextsAsLongAsItsContextInBatches) {
  auto embedder = Embedder::Open(fixtures::TinyChatModel(), {.threads = 0, .max_tokens = 512, .max_sequences = 16});
  ASSERT_TRUE(embedder.ok()) << embedder.status().ToString();
  std::string long_text;
  for (int i = 0; i < 80; ++i) long_text += "the ledger balances ";
  ASSERT_GT((*embedder)->CountTokens(long_text), 300);
  ASSERT_LT((*embedder)->CountTokens(long_text), 500);
  auto batched = (*embedder)->Embed({"short one", long_text, "another short one"});
  ASSERT_TRUE(batched.ok()) << batched.status().ToString();
  auto alone = (*embedder)->Embed({long_text});
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  EXPECT_NEAR(Norm((*batched)[1]), 1.0, 1e-4);
  EXPECT_GT(Dot((*batched)[1], alone->front()), 0.9999);
  EXPECT_EQ((*embedder)->stats().truncated, 0u);
}

TEST(EmbedderTest, OverLongInputIsTruncatedNotRefused) {
  auto embedder = OpenTiny({.threads = 0, .max_tokens = 32, .max_sequences = 4});
  ASSERT_NE(embedder, nullptr);
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "word ";
  auto v = embedder->Embed({long_text, "short"});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_NEAR(Norm((*v)[0]), 1.0, 1e-4);
  EXPECT_EQ(embedder->stats().truncated, 1u);
  EXPECT_EQ(embedder->stats().texts, 2u);
}

TEST(ModelIdTest, IsTheFileNameUnlessTheDocumentPrefixIsOverriddenWithAnotherOne) {
  Prefixes e5 = PrefixesFor("multilingual-e5-small", "bert");
  EXPECT_EQ(ModelId("/m/e5.gguf", e5, std::nullopt), "e5.gguf");
  EXPECT_EQ(ModelId("/m/e5.gguf", e5, "passage: "), "e5.gguf");  // the family's own
  std::string custom = ModelId("/m/e5.gguf", e5, "doc: ");
  EXPECT_EQ(custom.rfind("e5.gguf#document-prefix-", 0), 0u) << custom;
  EXPECT_EQ(custom, ModelId("/other/e5.gguf", e5, "doc: "));  // stable
  EXPECT_NE(custom, ModelId("/m/e5.gguf", e5, "doc:"));
  EXPECT_NE(custom, ModelId("/m/e5.gguf", e5, ""));
}

TEST(PrefixesForTest, EachFamilyGetsTheInstructionsItWasTrainedWith) {
  EXPECT_EQ(PrefixesFor("multilingual-e5-small", "bert").query, "query: ");
  EXPECT_EQ(PrefixesFor("multilingual-e5-small", "bert").document, "passage: ");
  EXPECT_EQ(PrefixesFor("nomic-embed-text-v1.5", "nomic-bert").document, "search_document: ");
  EXPECT_EQ(PrefixesFor("bge-small-en-v1.5", "bert").document, "");
  EXPECT_NE(PrefixesFor("bge-small-en-v1.5", "bert").query.find("Represent"), std::string::npos);
  EXPECT_NE(PrefixesFor("Qwen3-Embedding-0.6B", "qwen3").query.find("Query: "), std::string::npos);
  EXPECT_TRUE(PrefixesFor("all-MiniLM-L6-v2", "bert").query.empty());
}

TEST(EmbedderTest, QueriesAndDocumentsDifferByThePrefixAndOverridesApply) {
  auto embedder = OpenTiny({.threads = 0, .max_tokens = 512, .max_sequences = 4,
                            .query_prefix = "query: ", .document_prefix = "passage: "});
  ASSERT_NE(embedder, nullptr);
  EXPECT_EQ(embedder->prefixes().query, "query: ");
  auto q = embedder->Embed({"refund policy"}, Role::kQuery);
  auto d = embedder->Embed({"refund policy"}, Role::kDocument);
  auto same = embedder->Embed({"query: refund policy"}, Role::kDocument);
  ASSERT_TRUE(q.ok() && d.ok() && same.ok());
  EXPECT_NE(q->front(), d->front());
  EXPECT_NE(same->front(), q->front()) << "the document prefix must be applied too";
  auto plain = OpenTiny({.threads = 0, .max_tokens = 512, .max_sequences = 4,
                         .query_prefix = "", .document_prefix = ""});
  auto raw = plain->Embed({"query: refund policy"}, Role::kDocument);
  EXPECT_EQ(raw->front(), q->front());
}

// Queries run in a context of their own (one thread by default) beside document batches: the
// vectors are the ones the document context gives for the same input, and both may be used
// from several threads at once.
TEST(EmbedderTest, QueriesRunBesideDocumentBatchesAndGiveTheSameVectors) {
  auto lane = OpenTiny({.threads = 0, .query_threads = 1, .max_tokens = 512, .max_sequences = 8,
                        .query_prefix = "", .document_prefix = ""});
  auto shared = OpenTiny({.threads = 0, .query_threads = 0, .max_tokens = 512, .max_sequences = 8,
                          .query_prefix = "", .document_prefix = ""});
  ASSERT_NE(lane, nullptr);
  ASSERT_NE(shared, nullptr);
  auto a = lane->Embed({"when is the rent due"}, Role::kQuery);
  auto b = shared->Embed({"when is the rent due"}, Role::kQuery);
  auto c = lane->Embed({"when is the rent due"}, Role::kDocument);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_GT(Dot(a->front(), b->front()), 0.9999);
  EXPECT_GT(Dot(a->front(), c->front()), 0.9999);

  std::vector<std::string> documents(64, "The tenant pays the rent on the first day of each month.");
  std::atomic<bool> failed{false};
  std::thread ingest([&] {
    for (int round = 0; round < 5; ++round) {
      auto v = lane->Embed(documents, Role::kDocument);
      if (!v.ok() || v->size() != documents.size()) failed = true;
    }
  });
  for (int i = 0; i < 20; ++i) {
    auto q = lane->Embed({"when is the rent due"}, Role::kQuery);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    EXPECT_GT(Dot(q->front(), a->front()), 0.9999);
  }
  ingest.join();
  EXPECT_FALSE(failed);
  EmbedStats stats = lane->stats();
  EXPECT_EQ(stats.texts, 2u + 5 * documents.size() + 20);  // a and c, documents, queries
}

TEST(EmbedderTest, MissingModelIsNotFound) {
  EXPECT_EQ(Embedder::Open("/nonexistent.gguf", {}).status().code(), StatusCode::kNotFound);
}

TEST(EmbedderTest, FileThatIsNotAModelIsFailedPrecondition) {
  fixtures::TempDir dir;
  {
    std::FILE* f = std::fopen((dir / "x.gguf").c_str(), "w");
    std::fputs("not a model", f);
    std::fclose(f);
  }
  EXPECT_EQ(Embedder::Open(dir / "x.gguf", {}).status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cloister::embed
