#include <gtest/gtest.h>

#include <string>

#include "cloister/ingest/chunk.h"

namespace cloister::ingest {
namespace {

TEST(NormalizeTextTest, DecomposedAccentsAreComposedToNfc) {
  EXPECT_EQ(NormalizeText("caf"
                          "e\u0301"),
            "caf\u00e9");
  EXPECT_EQ(NormalizeText("A\u030angstr\u00f6m"), "\u00c5ngstr\u00f6m");
}

TEST(NormalizeTextTest, TypographicLigaturesAreSpelledOut) {
  EXPECT_EQ(NormalizeText("The mis\ufb01ts \ufb02ew o\ufb00 e\ufb03cient"),
            "The misfits flew off efficient");
}

TEST(NormalizeTextTest, WordHyphenatedAcrossALineIsJoined) {
  EXPECT_EQ(NormalizeText("the docu-\nment is long"), "the document is long");
  EXPECT_EQ(NormalizeText("docu-\r\nment"), "document");
  EXPECT_EQ(NormalizeText("docu-  \n   ment"), "document");
  EXPECT_EQ(NormalizeText("Zusammen\u2010\nfassung"), "Zusammenfassung");
}

TEST(NormalizeTextTest, HyphenBeforeACapitalOrDigitIsKeptWithoutASpace) {
  EXPECT_EQ(NormalizeText("the Anglo-\nSaxon world"), "the Anglo-Saxon world");
  EXPECT_EQ(NormalizeText("COVID-\n19 cases"), "COVID-19 cases");
}

TEST(NormalizeTextTest, DashesThatAreNotWordHyphensAreLeftAlone) {
  EXPECT_EQ(NormalizeText("one -\ntwo"), "one - two");
  EXPECT_EQ(NormalizeText("range 3-\n(see below)"), "range 3- (see below)");
  EXPECT_EQ(NormalizeText("end of para-\n\nnext"), "end of para-\n\nnext");
}

TEST(NormalizeTextTest, SoftHyphensAndInvisibleCharactersAreRemoved) {
  EXPECT_EQ(NormalizeText("hy\u00adphen\u00adation"), "hyphenation");
  EXPECT_EQ(NormalizeText("\ufeffzero\u200bwidth"), "zerowidth");
  EXPECT_EQ(NormalizeText(std::string("a\x01"
                                      "b\x7f"
                                      "c\x00"
                                      "d",
                                      7)),
            "abcd");
}

TEST(NormalizeTextTest, SpacesCollapseAndLinesOfAParagraphJoin) {
  EXPECT_EQ(NormalizeText("  a  \t b\u00a0\u00a0c  "), "a b c");
  EXPECT_EQ(NormalizeText("line one\nline two\r\nline three"), "line one line two line three");
}

TEST(NormalizeTextTest, ParagraphBreaksBecomeOneBlankLine) {
  EXPECT_EQ(NormalizeText("\n\nfirst\n\n\n  \n\nsecond\n\n"), "first\n\nsecond");
  EXPECT_EQ(NormalizeText("page one\fpage two"), "page one\n\npage two");
  EXPECT_EQ(NormalizeText("a\u2029b"), "a\n\nb");
}

TEST(NormalizeTextTest, ListItemsKeepTheirOwnLines) {
  EXPECT_EQ(NormalizeText("Steps:\n- one\n- two\n2. three\n\u2022 four\nwrapped"),
            "Steps:\n- one\n- two\n2. three\n\u2022 four wrapped");
}

TEST(NormalizeTextTest, LinesThatOnlyLookLikeListItemsAreJoined) {
  EXPECT_EQ(NormalizeText("in the year\n2019 we grew"), "in the year 2019 we grew");
  EXPECT_EQ(NormalizeText("add\n1.5 litres"), "add 1.5 litres");
  EXPECT_EQ(NormalizeText("a dash at the end\n-"), "a dash at the end -");
  EXPECT_EQ(NormalizeText("bullet alone\n- \n\nnext"), "bullet alone -\n\nnext");
}

TEST(NormalizeTextTest, LinesOfChineseAndThaiJoinWithoutASpace) {
  EXPECT_EQ(NormalizeText("\u4e2d\u6587\n\u6587\u672c"), "\u4e2d\u6587\u6587\u672c");
  EXPECT_EQ(NormalizeText("\u0e20\u0e32\u0e29\u0e32\n\u0e44\u0e17\u0e22"),
            "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22");
  EXPECT_EQ(NormalizeText("\u4e2d\u6587\nEnglish"), "\u4e2d\u6587 English");
}

TEST(NormalizeTextTest, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(NormalizeText("a\xff"
                          "b"),
            "a\ufffd"
            "b");
  EXPECT_EQ(NormalizeText("caf\xc3"), "caf\ufffd");  // truncated sequence at the end
  EXPECT_EQ(NormalizeText("\xed\xa0\x80x"), "\ufffd\ufffd\ufffdx");  // an encoded surrogate
  EXPECT_EQ(NormalizeText("ok \xef\xbf\xbd kept"), "ok \ufffd kept");
}

TEST(NormalizeTextTest, EmptyAndBlankTextGiveEmptyText) {
  EXPECT_EQ(NormalizeText(""), "");
  EXPECT_EQ(NormalizeText(" \n\t\r\n \f "), "");
}

TEST(NormalizeTextTest, NormalisingTwiceChangesNothing) {
  std::string once = NormalizeText(
      "Title\n\n  The docu-\nment  says: e\u0301t\u00e9.\n- item\n\n\n\u4e2d\u6587\n\u6587\xff");
  EXPECT_EQ(NormalizeText(once), once);
}

TEST(NormalizeTextTest, ALongSingleLineIsKeptWhole) {
  std::string line;
  for (int i = 0; i < 200000; ++i) line += "word ";
  std::string clean = NormalizeText(line);
  EXPECT_EQ(clean.size(), line.size() - 1);
  EXPECT_EQ(clean.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace cloister::ingest
