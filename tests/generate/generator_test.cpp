#include "cloister/generate/generator.h"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "fixtures/fixtures.h"

namespace cloister::generate {
namespace {

std::unique_ptr<Generator> Open(const std::filesystem::path& model) {
  auto g = Generator::Open(model, {});
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? std::move(g).value() : nullptr;
}

std::unordered_set<std::string> EnglishWords() {
  std::unordered_set<std::string> words;
  std::ifstream in("/usr/share/dict/words");
  std::string w;
  while (std::getline(in, w)) {
    for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    words.insert(w);
  }
  return words;
}

// Alphabetic runs of the text, lower-cased ("Jack's" -> "jack", "s").
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text + " ") {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  return out;
}

TEST(GeneratorTest, TinyRandomLlamaGeneratesTheRequestedNumberOfTokens) {
  auto gen = Open(fixtures::TinyChatModel());
  ASSERT_NE(gen, nullptr);
  GenerateOptions o;
  o.max_tokens = 5;
  auto out = gen->Generate("Hello there", o);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_GT(out->prompt_tokens, 0u);
  EXPECT_GE(out->generated_tokens, 1u);
  EXPECT_LE(out->generated_tokens, 5u);
}

TEST(GeneratorTest, StoriesModelWritesMostlyEnglishFromOnceUponATime) {
  auto words = EnglishWords();
  ASSERT_GT(words.size(), 50000u) << "word list /usr/share/dict/words (package wamerican) missing";
  auto gen = Open(fixtures::StoriesModel());
  ASSERT_NE(gen, nullptr);
  GenerateOptions o;
  o.max_tokens = 40;
  o.temperature = 0;  // greedy
  auto out = gen->Generate("Once upon a time", o);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->generated_tokens, 40u);
  auto found = Words(out->text);
  ASSERT_GE(found.size(), 15u) << out->text;
  size_t english = 0;
  for (const auto& w : found) english += words.count(w);
  EXPECT_GE(static_cast<double>(english) / found.size(), 0.7) << out->text;
}

TEST(GeneratorTest, GreedyGenerationIsDeterministicAndStreamsTheSameText) {
  auto gen = Open(fixtures::StoriesModel());
  ASSERT_NE(gen, nullptr);
  GenerateOptions o;
  o.max_tokens = 20;
  auto first = gen->Generate("Once upon a time", o);
  std::string streamed;
  auto second = gen->Generate("Once upon a time", o, [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->text, second->text);
  EXPECT_EQ(streamed, second->text);
}

TEST(GeneratorTest, CallbackReturningFalseCancels) {
  auto gen = Open(fixtures::StoriesModel());
  ASSERT_NE(gen, nullptr);
  int calls = 0;
  std::string seen;
  auto out = gen->Generate("Once upon a time", {}, [&](std::string_view piece) {
    seen += piece;
    return ++calls < 3;
  });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->stop, StopReason::kCancelled);
  EXPECT_EQ(calls, 3);
  // The text is what the callback saw; the scheduler may have sampled a token or two more.
  EXPECT_EQ(out->text, seen);
  EXPECT_GE(out->generated_tokens, 3u);
  EXPECT_LT(out->generated_tokens, 256u);
}

TEST(GeneratorTest, MissingModelIsNotFound) {
  EXPECT_EQ(Generator::Open("/nonexistent.gguf", {}).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace cloister::generate
