// KnowledgeBase::Ask end to end: retrieval, the evidence check, extractive answers without a
// chat model, generated ones with the real (tiny, trained) stories260K model.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "cloister/app/knowledge_base.h"
#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

class AnswerTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.ingest.worker_binary = CLOISTER_BINARY;
    config_.ingest.ocr = false;
    fs::create_directories(config_.models_dir);
  }
  void Open() {
    kb_.reset();
    auto kb = KnowledgeBase::Open(config_);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
  }
  // A 14-page paper whose page 2 says a loop "becomes hot, currently after 2 crossings".
  void IngestPaper() {
    auto r = kb_->Ingest({fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf"}, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->ingested.size(), 1u);
  }
  Answer AskOk(const std::string& question, AskOptions options = {}, const AnswerCallback& cb = {}) {
    auto a = kb_->Ask(cloister::app::Caller::Everything(), question, options, cb);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : Answer{};
  }
  // Every [n] in the text names a listed source.
  void ExpectMarkersResolve(const Answer& a) {
    static const std::regex marker(R"(\[(\d+)\])");
    std::set<int> listed;
    for (const auto& s : a.sources) listed.insert(s.n);
    for (auto it = std::sregex_iterator(a.text.begin(), a.text.end(), marker); it != std::sregex_iterator(); ++it) {
      EXPECT_TRUE(listed.count(std::stoi((*it)[1].str()))) << (*it)[0] << " in " << a.text;
    }
    for (const auto& sentence : a.sentences) {
      for (int n : sentence.sources) EXPECT_TRUE(listed.count(n)) << n;
    }
  }

  fixtures::TempDir dir_;
  Config config_;
  std::unique_ptr<KnowledgeBase> kb_;
};

TEST_F(AnswerTest, WithoutAChatModelTheAnswerQuotesTheSentenceCitedToItsPage) {
  Open();
  IngestPaper();
  std::string streamed;
  Answer a = AskOk("After how many crossings does a loop become hot?", {},
                   [&](std::string_view piece) { streamed += piece; return true; });
  EXPECT_EQ(a.mode, "extractive");
  EXPECT_TRUE(a.evidence);
  EXPECT_EQ(streamed, a.text);
  EXPECT_NE(a.text.find("after 2 crossings"), std::string::npos) << a.text;
  ASSERT_FALSE(a.sources.empty());
  ASSERT_FALSE(a.sentences.empty());
  // The sentence with the answer cites page 2 of the paper.
  const AnswerSentence& first = a.sentences.front();
  EXPECT_NE(first.text.find("2 crossings"), std::string::npos) << first.text;
  ASSERT_EQ(first.sources.size(), 1u);
  auto cited = std::find_if(a.sources.begin(), a.sources.end(), [&](const auto& s) { return s.n == first.sources[0]; });
  ASSERT_NE(cited, a.sources.end());
  EXPECT_EQ(fs::path(cited->passage.path).filename(), "tracemonkey.pdf");
  EXPECT_EQ(cited->passage.page, std::optional<int>(2));
  EXPECT_NE(cited->passage.text.find("2 crossings"), std::string::npos);
  ExpectMarkersResolve(a);
}

TEST_F(AnswerTest, WithoutEvidenceTheAnswerSaysSoAndNoModelRuns) {
  fs::copy_file(fixtures::StoriesModel(), config_.models_dir / "stories.gguf");
  Open();
  IngestPaper();
  Answer a = AskOk("What is the capital of Zanzibar?");
  EXPECT_FALSE(a.evidence);
  EXPECT_EQ(a.text, "The documents do not contain an answer to this question.");
  EXPECT_TRUE(a.sources.empty());
  EXPECT_EQ(a.prompt_tokens, 0u);
  EXPECT_EQ(a.generated_tokens, 0u);
  // An empty collection has no evidence for anything.
  config_.data_dir = dir_ / "empty";
  Open();
  EXPECT_FALSE(AskOk("After how many crossings does a loop become hot?").evidence);
  EXPECT_EQ(kb_->Ask(cloister::app::Caller::Everything(), "  ", {}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AnswerTest, WithAChatModelTheAnswerIsGeneratedStreamedAndItsMarkersResolve) {
  fs::copy_file(fixtures::StoriesModel(), config_.models_dir / "stories.gguf");
  config_.answer.max_tokens = 48;
  Open();
  IngestPaper();
  std::vector<std::string> pieces;
  Answer a = AskOk("After how many crossings does a loop become hot?", {.k = 3},
                   [&](std::string_view piece) { pieces.emplace_back(piece); return true; });
  EXPECT_EQ(a.mode, "generated");
  EXPECT_TRUE(a.evidence);
  EXPECT_GT(a.passages_considered, 0);
  EXPECT_GT(a.prompt_tokens, 100u);  // system prompt and sources
  EXPECT_GT(a.generated_tokens, 0u);
  EXPECT_LE(a.generated_tokens, 48u);
  EXPECT_GT(pieces.size(), 1u);  // streamed token by token
  EXPECT_FALSE(a.text.empty());
  ExpectMarkersResolve(a);
  EXPECT_EQ(a.search_mode, "lexical");
}

// Sampling with a seed: the same question gives the same answer whether or not it is streamed,
// and the streamed pieces joined are that answer.
TEST_F(AnswerTest, TheJoinedStreamEqualsTheAnswerGivenWithoutStreamingForTheSameSeed) {
  fs::copy_file(fixtures::StoriesModel(), config_.models_dir / "stories.gguf");
  config_.answer.max_tokens = 40;
  Open();
  IngestPaper();
  AskOptions options{.k = 3};
  options.temperature = 0.9f;
  options.seed = 1234;
  std::string joined;
  int pieces = 0;
  Answer streamed = AskOk("After how many crossings does a loop become hot?", options,
                          [&](std::string_view piece) { joined += piece; ++pieces; return true; });
  Answer plain = AskOk("After how many crossings does a loop become hot?", options);
  ASSERT_EQ(streamed.mode, "generated");
  EXPECT_GT(pieces, 1);
  EXPECT_FALSE(plain.text.empty());
  EXPECT_EQ(joined, plain.text);
  EXPECT_EQ(streamed.text, plain.text);
  EXPECT_EQ(streamed.generated_tokens, plain.generated_tokens);
  // Another seed samples another answer (at this temperature the tiny model varies a lot).
  options.seed = 99;
  EXPECT_NE(AskOk("After how many crossings does a loop become hot?", options).text, plain.text);
}

TEST_F(AnswerTest, AFollowUpIsSearchedWithThePreviousQuestion) {
  Open();
  IngestPaper();
  AskOptions options;
  options.history = {{"user", "When does a loop become hot in TraceMonkey?"},
                     {"assistant", "After 2 crossings [1]."}};
  Answer a = AskOk("And what is recorded then?", options);
  EXPECT_EQ(a.search_query, "When does a loop become hot in TraceMonkey?\nAnd what is recorded then?");
}

TEST_F(AnswerTest, ReturningFalseFromTheCallbackCancelsTheGeneration) {
  fs::copy_file(fixtures::StoriesModel(), config_.models_dir / "stories.gguf");
  config_.answer.max_tokens = 200;
  Open();
  IngestPaper();
  int calls = 0;
  Answer a = AskOk("After how many crossings does a loop become hot?", {.k = 3},
                   [&](std::string_view) { return ++calls < 3; });
  EXPECT_EQ(a.stop, "cancelled");
  EXPECT_EQ(calls, 3);
  EXPECT_LT(a.generated_tokens, 200u);
}

}  // namespace
}  // namespace cloister::app
