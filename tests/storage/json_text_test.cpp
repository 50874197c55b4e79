// JSON text for metadata columns, checked against SQLite's own JSON reader.
#include "cloister/storage/json_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cloister/storage/sqlite.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(JsonTextTest, ObjectOfStringsKeepsTheOrderGiven) {
  EXPECT_EQ(JsonObjectText({{"to", "b@x"}, {"from", "a@x"}}), R"({"to":"b@x","from":"a@x"})");
}

TEST(JsonTextTest, NoFieldsMakeAnEmptyObject) {
  EXPECT_EQ(JsonObjectText({}), "{}");
  EXPECT_EQ(JsonObjectText({}, {}, {}), "{}");
}

TEST(JsonTextTest, NumbersAndFlagsFollowTheStrings) {
  EXPECT_EQ(JsonObjectText({{"subject", "Hi"}}, {{"parts", 3}, {"offset", -12}},
                           {{"signed", true}, {"encrypted", false}}),
            R"({"subject":"Hi","parts":3,"offset":-12,"signed":true,"encrypted":false})");
  EXPECT_EQ(JsonObjectText({}, {{"n", 1}}, {{"f", true}}), R"({"n":1,"f":true})");
}

TEST(JsonTextTest, QuotesBackslashesAndControlCharactersAreEscaped) {
  EXPECT_EQ(JsonQuoted("say \"hi\" \\o/"), R"("say \"hi\" \\o/")");
  EXPECT_EQ(JsonQuoted("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
  EXPECT_EQ(JsonQuoted(std::string("nul\0\x01\x1f\x7f", 7)), "\"nul\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(JsonQuoted("/ é 😀"), "\"/ é 😀\"");  // '/' and valid UTF-8 stay as they are
}

TEST(JsonTextTest, InvalidUtf8BecomesOneReplacementCharacterPerMaximalSubpart) {
  EXPECT_EQ(JsonQuoted("a\xff"
                       "b"),
            "\"a" + kFffd + "b\"");                    // never a UTF-8 byte
  EXPECT_EQ(JsonQuoted("\x80"), "\"" + kFffd + "\"");  // stray continuation
  EXPECT_EQ(JsonQuoted("\xe2\x82"
                       "x"),
            "\"" + kFffd + "x\"");                                 // truncated € sequence
  EXPECT_EQ(JsonQuoted("\xe2\x82"), "\"" + kFffd + "\"");          // truncated at the end
  EXPECT_EQ(JsonQuoted("\xc0\xaf"), "\"" + kFffd + kFffd + "\"");  // overlong '/'
  EXPECT_EQ(JsonQuoted("\xed\xa0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");  // surrogate
  EXPECT_EQ(JsonQuoted("\xf4\x90\x80\x80"), "\"" + kFffd + kFffd + kFffd + kFffd + "\"");
  EXPECT_EQ(JsonQuoted("\xf0\x9f\x98\x80"), "\"😀\"");  // the same bytes, valid, are kept
}

class JsonSqliteTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(db_, Database::Open(":memory:")); }

  // json_valid() of `json`, and the value SQLite reads back for `key` (through json_each, so
  // keys need no JSON-path quoting).
  void ReadBack(const std::string& json, const std::string& key, bool* valid, std::string* value) {
    ASSERT_OK_AND_ASSIGN(Statement st, db_->Prepare("SELECT json_valid(?1), (SELECT value FROM "
                                                    "json_each(?1) WHERE key = ?2)"));
    ASSERT_OK(st.Bind(1, json));
    ASSERT_OK(st.Bind(2, key));
    ASSERT_OK_AND_ASSIGN(bool has_row, st.Step());
    ASSERT_TRUE(has_row);
    *valid = st.ColumnInt64(0) == 1;
    *value = st.ColumnText(1);
  }

  // SQLite's JSON reader before 3.45 ends a decoded string at an escaped NUL.
  bool SqliteKeepsNulInJsonStrings() {
    Result<Statement> st = db_->Prepare("SELECT sqlite_version()");
    if (!st.ok() || !st->Step().ok()) return false;
    int major = 0;
    int minor = 0;
    std::sscanf(st->ColumnText(0).c_str(), "%d.%d", &major, &minor);
    return major > 3 || (major == 3 && minor >= 45);
  }

  std::optional<Database> db_;
};

TEST_F(JsonSqliteTest, TrickyStringsRoundTripThroughSqlite) {
  const std::vector<std::string> values = {"",
                                           "plain",
                                           "\"quoted\" and 'single'",
                                           "back\\slash \\u0041 not an escape",
                                           "line one\nline two\r\n\ttabbed",
                                           "bell\x07 escape\x1b delete\x7f",
                                           "emoji 😀 and café, 中文, U+2028\u2028here",
                                           "{\"looks\": [\"like\", \"json\"]}",
                                           std::string(5000, 'x')};
  for (const std::string& value : values) {
    std::string json = JsonObjectText({{"before", "x"}, {"k", value}});
    bool valid = false;
    std::string read;
    ReadBack(json, "k", &valid, &read);
    EXPECT_TRUE(valid) << json;
    EXPECT_EQ(read, value) << json;
  }
}

TEST_F(JsonSqliteTest, TrickyKeysRoundTripThroughSqlite) {
  const std::string key = "we\"ird\\key\n😀";
  std::string json = JsonObjectText({{key, "v"}}, {{"n", 7}}, {{"f", true}});
  bool valid = false;
  std::string read;
  ReadBack(json, key, &valid, &read);
  EXPECT_TRUE(valid) << json;
  EXPECT_EQ(read, "v");
}

TEST_F(JsonSqliteTest, InvalidUtf8IsReadBackAsReplacementCharacters) {
  std::string json = JsonObjectText({{"k", "ok \xff\xfe mid \xe2\x82 end \xc3"}});
  bool valid = false;
  std::string read;
  ReadBack(json, "k", &valid, &read);
  EXPECT_TRUE(valid) << json;
  EXPECT_EQ(read, "ok " + kFffd + kFffd + " mid " + kFffd + " end " + kFffd);
}

TEST_F(JsonSqliteTest, NulIsEscapedAndValid) {
  std::string value("a\0b", 3);
  std::string json = JsonObjectText({{"k", value}});
  EXPECT_EQ(json, R"({"k":"a\u0000b"})");
  bool valid = false;
  std::string read;
  ReadBack(json, "k", &valid, &read);
  EXPECT_TRUE(valid);
  if (SqliteKeepsNulInJsonStrings()) {
    EXPECT_EQ(read, value);
  } else {
    EXPECT_EQ(read, "a");  // SQLite's limit, not the text's: the escape above is RFC 8259's
  }
}

TEST_F(JsonSqliteTest, IntegersAndFlagsAreReadBackExactly) {
  std::string json = JsonObjectText(
      {},
      {{"max", std::numeric_limits<int64_t>::max()}, {"min", std::numeric_limits<int64_t>::min()}},
      {{"yes", true}, {"no", false}});
  ASSERT_OK_AND_ASSIGN(Statement st,
                       db_->Prepare("SELECT json_extract(?1, '$.max'), json_extract(?1, '$.min'), "
                                    "json_extract(?1, '$.yes'), json_extract(?1, '$.no')"));
  ASSERT_OK(st.Bind(1, json));
  ASSERT_OK_AND_ASSIGN(bool has_row, st.Step());
  ASSERT_TRUE(has_row);
  EXPECT_EQ(st.ColumnInt64(0), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(st.ColumnInt64(1), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(st.ColumnInt64(2), 1);
  EXPECT_EQ(st.ColumnInt64(3), 0);
}

}  // namespace
}  // namespace cloister::storage
