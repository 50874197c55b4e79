// BM25 search through Catalog::SearchLexical and the query builder behind it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cloister/storage/catalog.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

// The expression for `query`, failing the test when there is none.
std::string Expression(std::string_view query) {
  Result<std::string> expression = FtsMatchExpression(query);
  EXPECT_TRUE(expression.ok()) << expression.status().ToString();
  return expression.ok() ? *expression : "<error>";
}

TEST(FtsMatchExpressionTest, QuotesEachWordAndJoinsThemWithOr) {
  EXPECT_EQ(Expression("solar panel"), R"("solar" OR "panel")");
}

TEST(FtsMatchExpressionTest, OperatorsBecomeQuotedWordsAndPunctuationIsDropped) {
  EXPECT_EQ(Expression("NEAR( a AND -b * ((( c*"), R"("NEAR" OR "a" OR "AND" OR "b" OR "c")");
}

TEST(FtsMatchExpressionTest, QuotesInsideAWordAreDoubledAndOtherQuotesSeparateWords) {
  EXPECT_EQ(Expression(R"(say"hi" ")"), R"("say" OR "hi")");
  // ICU keeps Hebrew abbreviations with a gershayim-like quote in one word.
  EXPECT_EQ(Expression(R"(צה"ל)"), R"("צה""ל")");
}

TEST(FtsMatchExpressionTest, TextWithoutWordsGivesAnEmptyExpression) {
  EXPECT_EQ(Expression(""), "");
  EXPECT_EQ(Expression(" \t\n "), "");
  EXPECT_EQ(Expression(R"(" ((( * - ^ :)"), "");
  EXPECT_EQ(Expression("「」、。 😀 —"), "");
}

TEST(FtsMatchExpressionTest, RepeatedWordsAreKeptOnceIgnoringCaseAndDiacritics) {
  EXPECT_EQ(Expression("Pump pump PUMP valve"), R"("Pump" OR "valve")");
  EXPECT_EQ(Expression("Café CAFE cafe"), R"("Café")");
  EXPECT_EQ(Expression("Straße STRASSE"), R"("Straße")");
}

TEST(FtsMatchExpressionTest, HyphenAndControlCharactersSeparateWords) {
  EXPECT_EQ(Expression("e-mail"), R"("e" OR "mail")");
  EXPECT_EQ(Expression(std::string("a\0b", 3)), R"("a" OR "b")");
  EXPECT_EQ(Expression("café"), "\"café\"");
}

TEST(FtsMatchExpressionTest, TextWithoutSpacesIsSplitIntoWords) {
  std::string expression = Expression("東京都の天気");
  EXPECT_NE(expression.find(R"("東京")"), std::string::npos) << expression;
  EXPECT_NE(expression.find(R"("天気")"), std::string::npos) << expression;
  EXPECT_EQ(Expression("Hello世界"), R"("Hello" OR "世界")");
  std::string thai = Expression("ประชุมที่กรุงเทพ");
  EXPECT_NE(thai.find(R"("กรุงเทพ")"), std::string::npos) << thai;
  EXPECT_NE(thai.find(" OR "), std::string::npos) << thai;
}

TEST(FtsMatchExpressionTest, KeepsAtMostTheTermLimit) {
  std::string query;
  for (size_t i = 0; i < kMaxQueryTerms + 10; ++i) query += "w" + std::to_string(i) + " ";
  std::string expression = Expression(query);
  size_t terms = 1;
  for (size_t pos = expression.find(" OR "); pos != std::string::npos;
       pos = expression.find(" OR ", pos + 1)) {
    ++terms;
  }
  EXPECT_EQ(terms, kMaxQueryTerms);
  EXPECT_NE(expression.find("\"w" + std::to_string(kMaxQueryTerms - 1) + "\""), std::string::npos);
  EXPECT_EQ(expression.find("\"w" + std::to_string(kMaxQueryTerms) + "\""), std::string::npos);
}

class LexicalSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(":memory:"));
    AddDocument("/docs/solar.pdf", "Solar guide",
                {"Solar panel installation needs a south-facing roof and a licensed installer.",
                 "The warranty covers panels for twenty years."});
    AddDocument("/docs/eclipse.txt", "Eclipse", {"A solar eclipse darkens the sky at noon."});
    AddDocument("/docs/menu.md", "Menu",
                {"Le café serves croissants and tea.", "Tom AND Jerry NEAR the door."});
  }

  void AddDocument(const std::string& path, const std::string& title,
                   const std::vector<std::string>& texts,
                   DocumentStatus status = DocumentStatus::kReady) {
    Document doc;
    doc.collection_id = 1;
    doc.path = path;
    doc.title = title;
    doc.status = status;
    ASSERT_OK_AND_ASSIGN(int64_t id, catalog_->AddDocument(doc));
    std::vector<Chunk> chunks;
    for (size_t i = 0; i < texts.size(); ++i) {
      Chunk chunk;
      chunk.ordinal = static_cast<int>(i);
      chunk.text = texts[i];
      chunk.page_start = static_cast<int>(i) + 1;
      chunks.push_back(chunk);
    }
    ASSERT_OK(catalog_->ReplaceChunks(id, chunks));
  }

  std::vector<LexicalHit> Search(std::string_view query, int k = 10) {
    Result<std::vector<LexicalHit>> hits = catalog_->SearchLexical(query, k);
    EXPECT_TRUE(hits.ok()) << "query '" << query << "': " << hits.status().ToString();
    return hits.ok() ? *hits : std::vector<LexicalHit>();
  }

  std::optional<Catalog> catalog_;
};

TEST_F(LexicalSearchTest, FindsAChunkByAWordItContainsWithItsDocument) {
  std::vector<LexicalHit> hits = Search("warranty");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].path, "/docs/solar.pdf");
  EXPECT_EQ(hits[0].title, "Solar guide");
  EXPECT_EQ(hits[0].page, 2);
  EXPECT_EQ(hits[0].text, "The warranty covers panels for twenty years.");
  ASSERT_OK_AND_ASSIGN(Chunk chunk, catalog_->GetChunk(hits[0].chunk_id));
  EXPECT_EQ(chunk.document_id, hits[0].document_id);
  EXPECT_EQ(chunk.text, hits[0].text);
  EXPECT_GT(hits[0].score, 0);
}

TEST_F(LexicalSearchTest, SnippetMarksTheMatchedWord) {
  std::vector<LexicalHit> hits = Search("warranty");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].snippet.find("«warranty»"), std::string::npos) << hits[0].snippet;
}

TEST_F(LexicalSearchTest, MatchingFoldsCaseAndDiacritics) {
  std::vector<LexicalHit> hits = Search("cafe");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].path, "/docs/menu.md");
  EXPECT_EQ(Search("CAFÉ").size(), 1u);
  EXPECT_EQ(Search("Croissants").size(), 1u);
}

TEST_F(LexicalSearchTest, ChunkWithTheQueryTermsRanksAboveLooserMatches) {
  // No stemming: "panels" in the warranty chunk is not "panel", and the menu has none.
  std::vector<LexicalHit> hits = Search("solar panel installation");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].path, "/docs/solar.pdf");
  EXPECT_EQ(hits[0].page, 1);
  EXPECT_EQ(hits[1].path, "/docs/eclipse.txt");
  EXPECT_GT(hits[0].score, hits[1].score);
  EXPECT_GT(hits[1].score, 0);
}

TEST_F(LexicalSearchTest, ReturnsAtMostKResults) {
  EXPECT_EQ(Search("solar", 1).size(), 1u);
  EXPECT_EQ(Search("solar", 10).size(), 2u);
}

TEST_F(LexicalSearchTest, KBelowOneIsInvalidArgument) {
  EXPECT_EQ(CODE_OF(catalog_->SearchLexical("solar", 0)), StatusCode::kInvalidArgument);
}

TEST_F(LexicalSearchTest, QueryWithoutWordsIsAnEmptyResultNotAnError) {
  EXPECT_TRUE(Search("").empty());
  EXPECT_TRUE(Search("   ").empty());
  EXPECT_TRUE(Search("(((").empty());
}

TEST_F(LexicalSearchTest, OperatorWordsAreSearchedLiterally) {
  std::vector<LexicalHit> hits = Search("AND");
  EXPECT_EQ(hits.size(), 3u);  // "and" appears in three chunks
  hits = Search("NEAR(");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].text.find("NEAR"), std::string::npos);
}

TEST_F(LexicalSearchTest, HostileQueriesNeverFail) {
  std::string long_text;
  while (long_text.size() < 10240) long_text += "solar \"NEAR( (((warranty* -x AND OR ";
  const std::vector<std::string> queries = {"\"",
                                            "\"\"",
                                            "NEAR(",
                                            "NEAR(solar panel",
                                            "*",
                                            "AND",
                                            "OR",
                                            "NOT",
                                            "-x",
                                            "(((",
                                            ")",
                                            "solar:",
                                            "text:solar",
                                            "^solar",
                                            "solar*",
                                            "+",
                                            "{text}: solar",
                                            "😀",
                                            "😀 solar",
                                            "\xff\xfe\xfd",
                                            std::string("sol\0ar", 6),
                                            long_text,
                                            std::string(10240, 'a'),
                                            "'; DROP TABLE chunks; --",
                                            "「」、。",
                                            "「北京」、「東京」。",
                                            "NEAR(北京",
                                            "\"北京",
                                            "北京*",
                                            "solar北京AND東京",
                                            "ประชุม OR",
                                            "Бюджет:solar",
                                            "المِيزانِيَّة NOT"};
  for (const std::string& query : queries) {
    Result<std::vector<LexicalHit>> hits = catalog_->SearchLexical(query, 5);
    EXPECT_TRUE(hits.ok()) << "query '" << query.substr(0, 40) << "': " << hits.status().ToString();
  }
  EXPECT_EQ(Search("😀 solar").size(), 2u);
  EXPECT_FALSE(Search(long_text).empty());
  EXPECT_EQ(Search("warranty").size(), 1u);  // the table survived the injection attempt
}

TEST_F(LexicalSearchTest, DocumentsWithoutMatchesAreNotReturned) {
  EXPECT_TRUE(Search("submarine").empty());
}

TEST_F(LexicalSearchTest, OnlyReadyAndPartialDocumentsAreSearched) {
  AddDocument("/q/queued.txt", "Queued", {"The lantern is being ingested."},
              DocumentStatus::kQueued);
  AddDocument("/q/failed.txt", "Failed", {"The lantern failed to parse."}, DocumentStatus::kFailed);
  AddDocument("/q/partial.txt", "Partial", {"The lantern lost page two."},
              DocumentStatus::kPartial);
  AddDocument("/q/ready.txt", "Ready", {"The lantern is fully indexed."});
  std::vector<LexicalHit> hits = Search("lantern");
  ASSERT_EQ(hits.size(), 2u);
  std::set<std::string> paths = {hits[0].path, hits[1].path};
  EXPECT_EQ(paths, (std::set<std::string>{"/q/partial.txt", "/q/ready.txt"}));

  ASSERT_OK_AND_ASSIGN(std::optional<Document> queued,
                       catalog_->FindDocumentByPath("/q/queued.txt"));
  ASSERT_TRUE(queued.has_value());
  ASSERT_OK(catalog_->UpdateDocumentStatus(queued->id, DocumentStatus::kReady));
  EXPECT_EQ(Search("lantern").size(), 3u);
}

TEST_F(LexicalSearchTest, InvisibleDocumentsDoNotTakeThePlacesOfVisibleOnes) {
  // The queued chunks match better (the word three times in a short text), so a filter applied
  // after picking the best k would leave nothing.
  for (int i = 0; i < 5; ++i) {
    AddDocument("/q/" + std::to_string(i), "Queued", {"harbour harbour harbour"},
                DocumentStatus::kQueued);
  }
  AddDocument("/v/1", "Visible one", {"A long text that mentions the harbour once, in passing."});
  AddDocument("/v/2", "Visible two", {"Another long text where the harbour appears only once."});
  std::vector<LexicalHit> hits = Search("harbour", 2);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].path.substr(0, 3), "/v/");
  EXPECT_EQ(hits[1].path.substr(0, 3), "/v/");
}

// Chunks in several languages and scripts, beside LexicalSearchTest's English and French.
class MultilingualSearchTest : public LexicalSearchTest {
 protected:
  void SetUp() override {
    LexicalSearchTest::SetUp();
    AddDocument("/intl/zh.txt", "会议", {"我们明天在北京开会讨论预算"});
    AddDocument("/intl/ja.txt", "会議", {"東京で会議があります"});
    AddDocument("/intl/th.txt", "ประชุม", {"ประชุมงบประมาณพรุ่งนี้ที่กรุงเทพ"});
    AddDocument("/intl/ru.txt", "Бюджет", {"Бюджет утверждён советом."});
    AddDocument("/intl/ar.txt", "الميزانية", {"تمت الموافقة على الميزانية الجديدة"});
    AddDocument("/intl/de.txt", "Straße", {"Die STRASSE bleibt bis Ångström-Tag gesperrt."});
  }

  // The paths of the hits for `query`, best first.
  std::vector<std::string> Paths(std::string_view query) {
    std::vector<std::string> paths;
    for (const LexicalHit& hit : Search(query)) paths.push_back(hit.path);
    return paths;
  }
};

using PathList = std::vector<std::string>;

TEST_F(MultilingualSearchTest, ChineseChunkIsFoundByWordsInsideIt) {
  EXPECT_EQ(Paths("北京"), PathList{"/intl/zh.txt"});
  EXPECT_EQ(Paths("预算"), PathList{"/intl/zh.txt"});
}

TEST_F(MultilingualSearchTest, JapaneseChunkIsFoundByWordsInsideIt) {
  EXPECT_EQ(Paths("東京"), PathList{"/intl/ja.txt"});
  EXPECT_EQ(Paths("会議"), PathList{"/intl/ja.txt"});
}

TEST_F(MultilingualSearchTest, ThaiChunkIsFoundByWordsInsideIt) {
  EXPECT_EQ(Paths("งบประมาณ"), PathList{"/intl/th.txt"});
  EXPECT_EQ(Paths("กรุงเทพ"), PathList{"/intl/th.txt"});
}

TEST_F(MultilingualSearchTest, RussianMatchesAcrossCaseAndYoButNotAcrossInflections) {
  EXPECT_EQ(Paths("бюджет"), PathList{"/intl/ru.txt"});
  EXPECT_EQ(Paths("БЮДЖЕТ"), PathList{"/intl/ru.txt"});
  EXPECT_EQ(Paths("утвержден"), PathList{"/intl/ru.txt"});
  EXPECT_TRUE(Paths("бюджета").empty());  // no stemming
}

TEST_F(MultilingualSearchTest, ArabicMatchesWithAndWithoutHarakatAndTatweel) {
  EXPECT_EQ(Paths("الميزانية"), PathList{"/intl/ar.txt"});
  EXPECT_EQ(Paths("المِيزانِيَّة"), PathList{"/intl/ar.txt"});
  EXPECT_EQ(Paths("الميـــزانية"), PathList{"/intl/ar.txt"});
}

TEST_F(MultilingualSearchTest, DiacriticsAndFullCaseFoldingAreIgnored) {
  EXPECT_EQ(Paths("Straße"), PathList{"/intl/de.txt"});
  EXPECT_EQ(Paths("strasse"), PathList{"/intl/de.txt"});
  EXPECT_EQ(Paths("angstrom"), PathList{"/intl/de.txt"});
  EXPECT_EQ(Paths("CAFÉ"), PathList{"/docs/menu.md"});
}

TEST_F(MultilingualSearchTest, QueryInOneLanguageDoesNotMatchUnrelatedText) {
  EXPECT_TRUE(Paths("上海").empty());
  EXPECT_TRUE(Paths("大阪").empty());
  EXPECT_TRUE(Paths("เชียงใหม่").empty());
  EXPECT_TRUE(Paths("налог").empty());
}

TEST_F(MultilingualSearchTest, SnippetHighlightsTheCjkWordOnly) {
  std::vector<LexicalHit> hits = Search("北京");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].snippet, "我们明天在«北京»开会讨论预算");
  hits = Search("会議");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].snippet, "東京で«会議»があります");
}

TEST_F(MultilingualSearchTest, ChunkWithTheRareWordsOfAJapaneseQueryRanksFirst) {
  // The query splits into 東京, 都, の and 天気; の is everywhere, so it must weigh little.
  AddDocument("/intl/ja-weather.txt", "天気", {"東京の天気は晴れです"});
  AddDocument("/intl/ja-particles.txt", "資料", {"大阪の会議の資料の説明の一覧の表"});
  std::vector<std::string> paths = Paths("東京都の天気");
  ASSERT_GE(paths.size(), 2u);
  EXPECT_EQ(paths[0], "/intl/ja-weather.txt");
}

TEST_F(LexicalSearchTest, TermFrequenciesCountTheChunksHoldingEachFoldedWord) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> words, FoldedWords("SOLAR Café, solar... and ZEBRA"));
  EXPECT_EQ(words, (std::vector<std::string>{"solar", "cafe", "solar", "and", "zebra"}));
  ASSERT_OK_AND_ASSIGN(TermFrequencies tf, catalog_->CountTermFrequencies(words));
  EXPECT_EQ(tf.chunks, 5);
  EXPECT_EQ(tf.frequencies["solar"], 2);  // two chunks, though the word appears in more places
  EXPECT_EQ(tf.frequencies["cafe"], 1);
  EXPECT_EQ(tf.frequencies["and"], 3);
  EXPECT_EQ(tf.frequencies["zebra"], 0);
  EXPECT_EQ(tf.frequencies.size(), 4u);
}

TEST(WordsWithinBudgetTest, KeepsTheRarestWordsWhoseRowsFitAndNamesTheOthers) {
  std::vector<QueryWord> words = {{"the", "The"}, {"notice", "notice"}, {"period", "period"},
                                  {"zzz", "zzz"}, {"termination", "termination"}};
  std::vector<int64_t> df = {900000, 20000, 25000, 0, 4000};
  std::vector<std::string> skipped;
  std::vector<QueryWord> kept = WordsWithinBudget(words, df, 50000, &skipped);
  ASSERT_EQ(kept.size(), 3u);  // in query order, the word no chunk has dropped silently
  EXPECT_EQ(kept[0].text, "notice");
  EXPECT_EQ(kept[1].text, "period");
  EXPECT_EQ(kept[2].text, "termination");
  EXPECT_EQ(skipped, std::vector<std::string>{"The"});

  skipped.clear();
  kept = WordsWithinBudget(words, df, 10000, &skipped);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].text, "termination");
  EXPECT_EQ(skipped, (std::vector<std::string>{"The", "notice", "period"}));

  // The rarest word stays even past the budget: a query always searches something it can find.
  skipped.clear();
  kept = WordsWithinBudget({{"the", "the"}, {"of", "of"}}, {900000, 950000}, 50000, &skipped);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].text, "the");
  EXPECT_EQ(skipped, std::vector<std::string>{"of"});
}

// Past the row budget, a word most chunks hold no longer decides which chunks are scored: the
// query finds the chunk with its rare word, as fast as if asked for alone.
TEST(LexicalBudgetTest, AWordInMoreChunksThanTheBudgetIsSkippedAndNamed) {
  ASSERT_OK_AND_ASSIGN(Catalog catalog, Catalog::Open(":memory:"));
  Document doc;
  doc.collection_id = 1;
  doc.path = "/docs/big.txt";
  doc.status = DocumentStatus::kReady;
  ASSERT_OK_AND_ASSIGN(int64_t id, catalog.AddDocument(doc));
  std::vector<Chunk> chunks;
  const int64_t budget = 500;
  for (int64_t i = 0; i <= budget; ++i) {
    Chunk c;
    c.ordinal = static_cast<int>(i);
    c.text = "common text number " + std::to_string(i);
    chunks.push_back(std::move(c));
  }
  Chunk rare;
  rare.ordinal = static_cast<int>(chunks.size());
  rare.text = "the aardvark clause";
  chunks.push_back(rare);
  Chunk both;
  both.ordinal = static_cast<int>(chunks.size());
  both.text = "aardvark common common";
  chunks.push_back(both);
  // Chunks without the common word, so that it still weighs something (idf above zero).
  for (int i = 0; i < 1000; ++i) {
    Chunk filler;
    filler.ordinal = static_cast<int>(chunks.size());
    filler.text = "filler line " + std::to_string(i);
    chunks.push_back(std::move(filler));
  }
  ASSERT_OK(catalog.ReplaceChunks(id, chunks));

  LexicalSearchInfo info;
  ASSERT_OK_AND_ASSIGN(std::vector<LexicalHit> hits, catalog.SearchLexical("common aardvark", 5, {}, &info, budget));
  EXPECT_EQ(info.skipped_words, std::vector<std::string>{"common"});
  // Found by "aardvark" alone, ranked by both words: the chunk that also says "common" (twice)
  // first, though BM25 on "aardvark" alone prefers the shorter chunk.
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].text, both.text);
  EXPECT_EQ(hits[1].text, "the aardvark clause");
  // And with the scores FTS5's bm25() gives when it matches every word.
  ASSERT_OK_AND_ASSIGN(std::vector<LexicalHit> exact, catalog.SearchLexical("common aardvark", 2, {}, nullptr, 1 << 30));
  ASSERT_EQ(exact.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(exact[i].chunk_id, hits[i].chunk_id);
    EXPECT_NEAR(hits[i].score, exact[i].score, 1e-9 * std::abs(exact[i].score)) << exact[i].text;
  }
  // Alone, the common word is still searched.
  info = {};
  ASSERT_OK_AND_ASSIGN(hits, catalog.SearchLexical("COMMON", 5, {}, &info, budget));
  EXPECT_EQ(hits.size(), 5u);
  EXPECT_TRUE(info.skipped_words.empty());
  // Within the budget both words are matched, as before there was one.
  info = {};
  ASSERT_OK_AND_ASSIGN(hits, catalog.SearchLexical("common aardvark", 5, {}, &info, budget + 10));
  EXPECT_EQ(hits.size(), 5u);
  EXPECT_EQ(hits[0].text, both.text);
  EXPECT_TRUE(info.skipped_words.empty());
}

TEST(ChunkCountTest, FollowsChangesMadeThroughThisAndOtherConnections) {
  testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(Catalog reader, Catalog::Open(dir / "catalog.db"));
  ASSERT_OK_AND_ASSIGN(Catalog writer, Catalog::Open(dir / "catalog.db"));
  auto add = [](Catalog& catalog, const std::string& path, int n) {
    Document doc;
    doc.collection_id = 1;
    doc.path = path;
    doc.status = DocumentStatus::kReady;
    Result<int64_t> id = catalog.AddDocument(doc);
    ASSERT_OK(id);
    std::vector<Chunk> chunks(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      chunks[static_cast<size_t>(i)].ordinal = i;
      chunks[static_cast<size_t>(i)].text = "chunk " + std::to_string(i);
    }
    ASSERT_OK(catalog.ReplaceChunks(*id, chunks));
  };
  ASSERT_OK_AND_ASSIGN(int64_t count, reader.ChunkCount());
  EXPECT_EQ(count, 0);
  add(writer, "/a.txt", 3);
  ASSERT_OK_AND_ASSIGN(count, reader.ChunkCount());
  EXPECT_EQ(count, 3);
  add(reader, "/b.txt", 2);
  ASSERT_OK_AND_ASSIGN(count, reader.ChunkCount());
  EXPECT_EQ(count, 5);
  ASSERT_OK_AND_ASSIGN(count, reader.ChunkCount());
  EXPECT_EQ(count, 5);
}

TEST(FoldedWordsTest, SplitsTextWithoutSpaces) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> words, FoldedWords("我们明天在北京开会"));
  EXPECT_NE(std::find(words.begin(), words.end(), "北京"), words.end());
}

}  // namespace
}  // namespace cloister::storage
