// The FTS5 tokenizer "cloister_icu", seen through SQL on a real connection: the words it indexes
// (fts5vocab lists them), the byte offsets it reports (highlight() marks them) and where it is
// registered.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "cloister/storage/sqlite.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;
using Words = std::vector<std::string>;

class IcuTokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(db_, Database::Open(":memory:"));
    ASSERT_OK(
        db_->Exec("CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'cloister_icu');"
                  "CREATE VIRTUAL TABLE t_words USING fts5vocab (t, 'instance');"));
  }

  // Makes `text` the only row of t.
  void Store(std::string_view text) {
    EXPECT_OK(db_->Exec("DELETE FROM t"));
    Result<Statement> insert = db_->Prepare("INSERT INTO t (rowid, x) VALUES (1, ?1)");
    ASSERT_OK(insert);
    ASSERT_OK(insert->Bind(1, text));
    EXPECT_OK(insert->Step());
  }

  // The words indexed for `text`, in order.
  Words Tokenize(std::string_view text) {
    Store(text);
    Words words;
    Result<Statement> list = db_->Prepare("SELECT term FROM t_words ORDER BY offset");
    EXPECT_OK(list);
    if (!list.ok()) return words;
    for (Result<bool> row = list->Step(); row.ok() && *row; row = list->Step()) {
      words.push_back(list->ColumnText(0));
    }
    return words;
  }

  // `text` with the words matching `match` (an FTS5 expression) in brackets; "" when none match.
  std::string Highlight(std::string_view text, std::string_view match) {
    Store(text);
    Result<Statement> query =
        db_->Prepare("SELECT highlight(t, 0, '[', ']') FROM t WHERE t MATCH ?1");
    EXPECT_OK(query);
    if (!query.ok()) return "";
    EXPECT_OK(query->Bind(1, match));
    Result<bool> row = query->Step();
    EXPECT_OK(row);
    return row.ok() && *row ? query->ColumnText(0) : "";
  }

  std::optional<Database> db_;
};

bool Contains(const Words& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

TEST_F(IcuTokenizerTest, SpacedTextIsSplitAtSpacesAndPunctuationAndLowerCased) {
  EXPECT_EQ(Tokenize("The e-mail (sent Tuesday) said: \"Go!\""),
            (Words{"the", "e", "mail", "sent", "tuesday", "said", "go"}));
}

TEST_F(IcuTokenizerTest, NumbersAndContractionsStayWhole) {
  EXPECT_EQ(Tokenize("Pi is 3.14, don't round to 3"),
            (Words{"pi", "is", "3.14", "don't", "round", "to", "3"}));
}

TEST_F(IcuTokenizerTest, ChineseIsSplitIntoWords) {
  Words words = Tokenize("我们明天在北京开会讨论预算");
  EXPECT_TRUE(Contains(words, "北京")) << ::testing::PrintToString(words);
  EXPECT_TRUE(Contains(words, "预算")) << ::testing::PrintToString(words);
  EXPECT_GE(words.size(), 5u);
}

TEST_F(IcuTokenizerTest, JapaneseIsSplitIntoWords) {
  Words words = Tokenize("東京で会議があります");
  EXPECT_TRUE(Contains(words, "東京")) << ::testing::PrintToString(words);
  EXPECT_TRUE(Contains(words, "会議")) << ::testing::PrintToString(words);
  EXPECT_GE(words.size(), 4u);
}

TEST_F(IcuTokenizerTest, ThaiIsSplitIntoWords) {
  Words words = Tokenize("ประชุมงบประมาณพรุ่งนี้ที่กรุงเทพ");
  EXPECT_TRUE(Contains(words, "ประชุม")) << ::testing::PrintToString(words);
  EXPECT_TRUE(Contains(words, "กรุงเทพ")) << ::testing::PrintToString(words);
  EXPECT_GE(words.size(), 4u);
}

TEST_F(IcuTokenizerTest, ScriptChangesSeparateWords) {
  EXPECT_EQ(Tokenize("Hello世界abc"), (Words{"hello", "世界", "abc"}));
}

TEST_F(IcuTokenizerTest, FullCaseFoldingAppliesToEveryCasedScript) {
  EXPECT_EQ(Tokenize("Straße STRASSE Бюджет ΣΊΣΥΦΟΣ"),
            (Words{"strasse", "strasse", "бюджет", "σισυφοσ"}));
}

TEST_F(IcuTokenizerTest, LatinGreekAndCyrillicDiacriticsAreRemoved) {
  EXPECT_EQ(Tokenize("Café Ångström Ελλάδα ёлка naïve İstanbul"),
            (Words{"cafe", "angstrom", "ελλαδα", "елка", "naive", "istanbul"}));
}

TEST_F(IcuTokenizerTest, ArabicHarakatAndTatweelAndHebrewPointsAreRemoved) {
  EXPECT_EQ(Tokenize("المِيزانِيَّة الميـــزانية الميزانية"),
            (Words{"الميزانية", "الميزانية", "الميزانية"}));
  EXPECT_EQ(Tokenize("שָׁלוֹם"), (Words{"שלום"}));
}

TEST_F(IcuTokenizerTest, MarksThatSpellDifferentWordsAreKept) {
  // Thai tone marks and the Japanese voicing mark change the word.
  Words thai = Tokenize("ไม่ ไม้");
  ASSERT_EQ(thai.size(), 2u);
  EXPECT_NE(thai[0], thai[1]);
  EXPECT_EQ(Tokenize("ガス カス"), (Words{"ガス", "カス"}));
  // Cyrillic й is a letter, not и with an accent; ё is commonly written е.
  EXPECT_EQ(Tokenize("мой мои Ёлка"), (Words{"мой", "мои", "елка"}));
}

TEST_F(IcuTokenizerTest, CompatibilityFormsFoldToTheirPlainLetters) {
  EXPECT_EQ(Tokenize("ＡＢＣ ﬁle ｶﾀｶﾅ"), (Words{"abc", "file", "カタカナ"}));
}

TEST_F(IcuTokenizerTest, PunctuationSymbolsAndEmojiAreNotWords) {
  EXPECT_EQ(Tokenize("「東京」、。 😀 — (x) * ^ :"), (Words{"東京", "x"}));
  EXPECT_TRUE(Tokenize("「」、。!?…").empty());
}

TEST_F(IcuTokenizerTest, InvalidUtf8IsIndexedWithoutFailing) {
  Words words = Tokenize("ok \xff\xfe broken \xc3 end");
  EXPECT_TRUE(Contains(words, "ok")) << ::testing::PrintToString(words);
  EXPECT_TRUE(Contains(words, "broken"));
  EXPECT_TRUE(Contains(words, "end"));
}

TEST_F(IcuTokenizerTest, LongWordsAndLongTextsAreIndexed) {
  EXPECT_EQ(Tokenize(std::string(20000, 'A')), (Words{std::string(20000, 'a')}));
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "北京的天气 weather ";
  EXPECT_GE(Tokenize(text).size(), 15000u);
}

TEST_F(IcuTokenizerTest, HighlightMarksTheOriginalBytesOfTheMatchedWord) {
  EXPECT_EQ(Highlight("Le CAFÉ était fermé", "cafe"), "Le [CAFÉ] était fermé");
  EXPECT_EQ(Highlight("我们明天在北京开会讨论预算", "北京"), "我们明天在[北京]开会讨论预算");
  EXPECT_EQ(Highlight("تمت الموافقة على المِيزانِيَّة", "الميزانية"), "تمت الموافقة على [المِيزانِيَّة]");
  EXPECT_EQ(Highlight("ｆｕｌｌ width", "full"), "[ｆｕｌｌ] width");
  // Characters outside the BMP take two UTF-16 units and four bytes.
  EXPECT_EQ(Highlight("😀 café 😀 𠮷野家", "cafe"), "😀 [café] 😀 𠮷野家");
  EXPECT_EQ(Highlight("𠮷野家 café", "cafe"), "𠮷野家 [café]");
  EXPECT_EQ(Highlight("\xff\xfe\xc3 broken", "broken"), "\xff\xfe\xc3 [broken]");
}

TEST_F(IcuTokenizerTest, ArgumentsToTheTokenizerAreRejected) {
  Status status =
      db_->Exec("CREATE VIRTUAL TABLE bad USING fts5 (x, tokenize = 'cloister_icu ja')");
  EXPECT_EQ(status.code(), StatusCode::kInternal) << status.ToString();
  EXPECT_NE(status.message().find("tokenize"), std::string::npos) << status.message();
}

TEST(IcuTokenizerRegistrationTest, EveryConnectionHasItReadOnlyOnesIncluded) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(Database db, Database::Open(dir / "fts.db"));
    ASSERT_OK(
        db.Exec("CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'cloister_icu');"
                "INSERT INTO t (x) VALUES ('我们明天在北京开会');"));
  }
  OpenOptions read_only;
  read_only.read_only = true;
  ASSERT_OK_AND_ASSIGN(Database reader, Database::Open(dir / "fts.db", read_only));
  ASSERT_OK_AND_ASSIGN(int64_t hits,
                       reader.QueryInt64("SELECT count(*) FROM t WHERE t MATCH '北京'"));
  EXPECT_EQ(hits, 1);
  ASSERT_OK_AND_ASSIGN(Database writer, Database::Open(dir / "fts.db"));
  ASSERT_OK(writer.Exec("INSERT INTO t (x) VALUES ('北京的天气')"));
  ASSERT_OK_AND_ASSIGN(hits, writer.QueryInt64("SELECT count(*) FROM t WHERE t MATCH '北京'"));
  EXPECT_EQ(hits, 2);
}

}  // namespace
}  // namespace cloister::storage
