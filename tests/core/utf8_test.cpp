#include "cloister/core/utf8.h"

#include <gtest/gtest.h>

namespace cloister {
namespace {

TEST(Utf8Test, WellFormedTextIsKeptByteForByte) {
  std::string text = "plain, d\xC3\xA9j\xC3\xA0, \xE4\xB8\xAD\xE6\x96\x87, \xF0\x9F\x93\x84";
  EXPECT_EQ(InvalidUtf8At(text), std::string_view::npos);
  EXPECT_EQ(ToValidUtf8(text), text);
  EXPECT_EQ(Utf8SequenceAt(text, 8), 2u);
  EXPECT_EQ(ToValidUtf8(""), "");
}

TEST(Utf8Test, EachMalformedByteBecomesOneReplacementCharacter) {
  const std::string kBad = "\xEF\xBF\xBD";
  EXPECT_EQ(ToValidUtf8("a\x80z"), "a" + kBad + "z");                     // stray continuation
  EXPECT_EQ(ToValidUtf8("a\xC3"), "a" + kBad);                             // cut at the end
  EXPECT_EQ(ToValidUtf8("\xE4\xB8z"), kBad + kBad + "z");                  // cut before ASCII
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), kBad + kBad);                         // overlong '/'
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), kBad + kBad + kBad);              // a surrogate
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80"), kBad + kBad + kBad + kBad);   // past U+10FFFF
  EXPECT_EQ(InvalidUtf8At("ok\xFF"), 2u);
  EXPECT_EQ(InvalidUtf8At(ToValidUtf8("\xFF\xFE\xC3(")), std::string_view::npos);
}

}  // namespace
}  // namespace cloister
