// The FTS5 tokenizer "cloister_icu": ICU word segmentation with case and diacritic folding, so
// lexical search works in every language, those written without spaces included. Chunk text and
// queries go through the same WordSegmenter, so both sides are split and folded alike.
//
//   CLOISTER_RETURN_IF_ERROR(RegisterIcuTokenizer(db));  // Database::Open does this
//   CREATE VIRTUAL TABLE t USING fts5 (text, tokenize = 'cloister_icu');
//
// Words are ICU's word break segments (root locale: dictionary-based for Chinese, Japanese, Thai,
// Khmer, Lao and Burmese) whose rule status says letters, digits, kana or ideographs; spaces,
// punctuation, symbols and emoji are dropped. Each word is folded: NFKC with full case folding
// ("Straße" and "STRASSE" give "strasse", full-width "ＡＢＣ" gives "abc"), then nonspacing marks
// after a Latin, Greek, Cyrillic, Arabic or Hebrew letter are removed ("café" gives "cafe", "ё"
// gives "е", harakat and niqqud go) as is the Arabic tatweel. Marks that spell different words
// are kept: the breve of Cyrillic "й", Thai tone marks, Indic vowel signs, Japanese voicing marks.
#pragma once

#include <memory>
#include <string_view>

#include "cloister/core/status.h"

struct sqlite3;

namespace cloister::storage::internal {

// The name to give in `tokenize = '...'`. The tokenizer takes no arguments.
inline constexpr const char* kIcuTokenizerName = "cloister_icu";

// Splits UTF-8 text into folded words. Invalid UTF-8 is read as U+FFFD and never fails. Not
// thread-safe: one per thread (each FTS5 table of each connection has its own).
class WordSegmenter {
 public:
  // Called once per word, in order: `folded` is valid only during the call, `start` and `end`
  // are byte offsets of the word in the text. A nonzero return stops the walk.
  using OnWord = int (*)(void* context, std::string_view folded, int start, int end);

  // kInternal when ICU cannot build a word break iterator (its data is missing).
  static Result<std::unique_ptr<WordSegmenter>> Create();
  ~WordSegmenter();
  WordSegmenter(const WordSegmenter&) = delete;
  WordSegmenter& operator=(const WordSegmenter&) = delete;

  // Returns 0 when every word was visited, the first nonzero value `on_word` returned, or
  // kIcuFailed when ICU itself failed. `text` must be shorter than 2 GiB (FTS5 passes an int).
  int ForEachWord(std::string_view text, OnWord on_word, void* context);

  // The same with any callable `int(std::string_view folded, int start, int end)`.
  template <typename F>
  int ForEachWord(std::string_view text, F& on_word) {
    return ForEachWord(
        text,
        [](void* f, std::string_view folded, int start, int end) {
          return (*static_cast<F*>(f))(folded, start, end);
        },
        &on_word);
  }

  static constexpr int kIcuFailed = -1;

 private:
  struct Impl;
  explicit WordSegmenter(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

// Registers "cloister_icu" on the connection; it lasts as long as the connection. kInternal when
// SQLite was built without FTS5.
Status RegisterIcuTokenizer(sqlite3* db);

}  // namespace cloister::storage::internal
