// TextStream: what a client sees of the bytes a model writes (generate/src/text_stream.h).
#include "text_stream.h"

#include <gtest/gtest.h>

#include "cloister/core/utf8.h"

namespace cloister::generate {
namespace {

const std::string kReplacement = "\xEF\xBF\xBD";

TEST(TextStreamTest, ACharacterSplitAcrossPiecesComesOutWhole) {
  TextStream stream;
  EXPECT_EQ(stream.Push("d\xC3"), "d");
  EXPECT_EQ(stream.Push("\xA9j\xE4\xB8"), "\xC3\xA9j");
  EXPECT_EQ(stream.Push("\xAD"), "\xE4\xB8\xAD");
  EXPECT_EQ(stream.Flush(), "");
}

// A random-weight model (and a real one, now and then) writes byte tokens that never make a
// character: a client must still get UTF-8, or its JSON is invalid (found by bench_http).
TEST(TextStreamTest, BytesThatAreNotUtf8ComeOutAsReplacementCharacters) {
  TextStream stream;
  std::string out = stream.Push("a\x80");
  out += stream.Push("\xE4\xB8z");
  out += stream.Push("\xFF b \xF0\x9F");
  out += stream.Flush();  // generation ended (max tokens) in the middle of a character
  EXPECT_EQ(out, "a" + kReplacement + kReplacement + kReplacement + "z" + kReplacement + " b " +
                     kReplacement + kReplacement);
  EXPECT_EQ(InvalidUtf8At(out), std::string_view::npos);
}

TEST(TextStreamTest, AStopStringEndsTheTextAndIsNeverShownInPart) {
  TextStream stream({"</answer>"});
  EXPECT_EQ(stream.Push("Three months </ans"), "Three months ");
  EXPECT_EQ(stream.Push("wer> and more"), "");
  EXPECT_TRUE(stream.stopped());
  EXPECT_EQ(stream.Push("later"), "");

  TextStream unfinished({"</answer>"});
  EXPECT_EQ(unfinished.Push("a </ans"), "a ");
  EXPECT_EQ(unfinished.Flush(), "</ans");  // not a stop after all: ordinary text
}

}  // namespace
}  // namespace cloister::generate
