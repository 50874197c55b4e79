#include "icu_tokenizer.h"

#include <sqlite3.h>
#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/ustring.h>
#include <unicode/utext.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <cstdint>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "sqlite_error.h"

namespace cloister::storage::internal {
namespace {

constexpr UChar32 kTatweel = 0x0640;

// ICU's own singletons: immutable, shared by every thread, never freed.
struct Normalizers {
  const UNormalizer2* nfkc_casefold = nullptr;
  const UNormalizer2* nfd = nullptr;
  const UNormalizer2* nfc = nullptr;
};

// UTF-16 text in a buffer reused from call to call: the first `size` units are in use.
struct Utf16 {
  std::u16string units;
  int32_t size = 0;

  UChar* Reserve(int32_t capacity) {
    if (units.size() < static_cast<size_t>(capacity)) units.resize(static_cast<size_t>(capacity));
    return units.data();
  }
  int32_t capacity() const { return static_cast<int32_t>(units.size()); }
  const UChar* data() const { return units.data(); }
};

// What one walk over a text needs. Kept between calls so a walk allocates nothing once the
// buffers have grown to the longest text seen.
struct Scratch {
  std::unique_ptr<icu::BreakIterator> words;
  Utf16 text;                    // the whole text, which ICU segments faster than UTF-8
  std::vector<int32_t> byte_at;  // byte offset in the UTF-8 of each unit of `text`, and its end
  Utf16 folded, decomposed, stripped;
  std::string out;

  void ReleaseTextBuffers() {
    text = Utf16();
    byte_at = std::vector<int32_t>();
  }
};

constexpr size_t kKeptBufferBytes = size_t{1} << 20;

// Decodes UTF-8 into s.text and s.byte_at. An ill-formed sequence becomes one U+FFFD, as
// everywhere in ICU, so each unit still maps to the bytes it came from.
void Decode(std::string_view utf8, Scratch& s) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(utf8.data());
  const auto size = static_cast<int32_t>(utf8.size());
  // UTF-16 never needs more units than UTF-8 has bytes.
  UChar* units = s.text.Reserve(size);
  if (s.byte_at.size() < utf8.size() + 1) s.byte_at.resize(utf8.size() + 1);
  int32_t n = 0;
  for (int32_t i = 0; i < size;) {
    int32_t start = i;
    UChar32 c;
    U8_NEXT_OR_FFFD(bytes, i, size, c);
    s.byte_at[static_cast<size_t>(n)] = start;
    if (c <= 0xFFFF) {
      units[n++] = static_cast<UChar>(c);
    } else {
      units[n++] = U16_LEAD(c);
      s.byte_at[static_cast<size_t>(n)] = start;
      units[n++] = U16_TRAIL(c);
    }
  }
  s.byte_at[static_cast<size_t>(n)] = size;
  s.text.size = n;
}

bool ToUtf8(const Utf16& text, std::string* out) {
  UErrorCode status = U_ZERO_ERROR;
  out->resize(static_cast<size_t>(text.size) * 3);
  int32_t length = 0;
  u_strToUTF8WithSub(out->data(), static_cast<int32_t>(out->size()), &length, text.data(),
                     text.size, 0xFFFD, nullptr, &status);
  out->resize(static_cast<size_t>(length));
  return U_SUCCESS(status);
}

bool Normalize(const UNormalizer2* normalizer, const UChar* in, int32_t size, Utf16* out) {
  UErrorCode status = U_ZERO_ERROR;
  UChar* dest = out->Reserve(size + 16);
  out->size = unorm2_normalize(normalizer, in, size, dest, out->capacity(), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {  // compatibility mappings can expand a lot ("ﷺ")
    status = U_ZERO_ERROR;
    dest = out->Reserve(out->size);
    out->size = unorm2_normalize(normalizer, in, size, dest, out->capacity(), &status);
  }
  return U_SUCCESS(status);
}

// Which nonspacing marks after a base character are accents or vowel points, not spelling.
enum class MarksAfter { kKept, kDropped, kDroppedButBreve };

constexpr UChar32 kCombiningBreve = 0x0306;

MarksAfter MarksAfterBase(UChar32 base) {
  if (base < 0x0370) return MarksAfter::kDropped;  // Latin and the Common characters before Greek
  UErrorCode status = U_ZERO_ERROR;
  switch (uscript_getScript(base, &status)) {
    case USCRIPT_LATIN:
    case USCRIPT_GREEK:
    case USCRIPT_ARABIC:
    case USCRIPT_HEBREW:
    case USCRIPT_COMMON:
      return MarksAfter::kDropped;
    case USCRIPT_CYRILLIC:  // ё is written е, but й (и with a breve) is a letter of its own
      return MarksAfter::kDroppedButBreve;
    default:
      return MarksAfter::kKept;
  }
}

bool Drops(MarksAfter rule, UChar32 mark) {
  return rule == MarksAfter::kDropped ||
         (rule == MarksAfter::kDroppedButBreve && mark != kCombiningBreve);
}

// Below U+00C0 nothing decomposes; kana, ideographs and Hangul syllables have no marks to drop
// (kana voicing marks are kept), so words written only in those skip the NFD round trip.
bool MayHaveDiacritics(const Utf16& text) {
  for (int32_t i = 0; i < text.size; ++i) {
    char16_t u = text.units[static_cast<size_t>(i)];
    if (u < 0xC0 || (u >= 0x3040 && u < 0xA000) || (u >= 0xAC00 && u < 0xD7A4)) continue;
    return true;
  }
  return false;
}

// Copies decomposed text without the marks MarksAfterBase drops and without tatweel; false
// when there was nothing to drop.
bool DropDiacritics(const Utf16& in, Utf16* out) {
  UChar* dest = out->Reserve(in.size);
  MarksAfter rule = MarksAfter::kKept;
  bool changed = false;
  int32_t size = 0;
  for (int32_t i = 0; i < in.size;) {
    UChar32 c;
    U16_NEXT(in.data(), i, in.size, c);
    int8_t type = u_charType(c);
    if (c == kTatweel || (type == U_NON_SPACING_MARK && Drops(rule, c))) {
      changed = true;
      continue;
    }
    if (type != U_NON_SPACING_MARK && type != U_COMBINING_SPACING_MARK &&
        type != U_ENCLOSING_MARK) {
      rule = MarksAfterBase(c);
    }
    U16_APPEND_UNSAFE(dest, size, c);
  }
  out->size = size;
  return changed;
}

// ASCII, most of the text, needs only lower-casing, which is all NFKC_Casefold does to it.
bool FoldAscii(const UChar* word, int32_t size, std::string* out) {
  out->resize(static_cast<size_t>(size));
  for (int32_t i = 0; i < size; ++i) {
    UChar u = word[i];
    if (u >= 0x80) return false;
    if (u >= 'A' && u <= 'Z') u += 'a' - 'A';
    (*out)[static_cast<size_t>(i)] = static_cast<char>(u);
  }
  return true;
}

// Folds the word at units [start, end) of s.text into s.out; false when ICU failed.
bool Fold(int32_t start, int32_t end, const Normalizers& n, Scratch& s) {
  const UChar* word = s.text.data() + start;
  if (FoldAscii(word, end - start, &s.out)) return true;
  if (!Normalize(n.nfkc_casefold, word, end - start, &s.folded)) return false;
  if (MayHaveDiacritics(s.folded)) {
    if (!Normalize(n.nfd, s.folded.data(), s.folded.size, &s.decomposed)) return false;
    if (DropDiacritics(s.decomposed, &s.stripped) &&
        !Normalize(n.nfc, s.stripped.data(), s.stripped.size, &s.folded)) {
      return false;
    }
  }
  return ToUtf8(s.folded, &s.out);
}

int Walk(std::string_view text, const Normalizers& n, Scratch& s, WordSegmenter::OnWord on_word,
         void* context) {
  Decode(text, s);
  UErrorCode status = U_ZERO_ERROR;
  UText utext = UTEXT_INITIALIZER;
  utext_openUChars(&utext, s.text.data(), s.text.size, &status);
  s.words->setText(&utext, status);
  utext_close(&utext);  // the iterator keeps its own shallow clone
  if (U_FAILURE(status)) return WordSegmenter::kIcuFailed;
  int rc = 0;
  int32_t start = s.words->first();
  for (int32_t end = s.words->next(); end != icu::BreakIterator::DONE && rc == 0;
       start = end, end = s.words->next()) {
    if (s.words->getRuleStatus() < UBRK_WORD_NONE_LIMIT) continue;  // spaces, punctuation
    if (!Fold(start, end, n, s)) return WordSegmenter::kIcuFailed;
    if (s.out.empty()) continue;
    rc = on_word(context, s.out, s.byte_at[static_cast<size_t>(start)],
                 s.byte_at[static_cast<size_t>(end)]);
  }
  return rc;
}

}  // namespace

struct WordSegmenter::Impl {
  std::unique_ptr<icu::BreakIterator> prototype;
  Normalizers normalizers;
  // The scratch of the last walk, for the next. A walk started while another is under way (FTS5
  // does not do that, but nothing forbids it) clones its own.
  std::unique_ptr<Scratch> idle;

  std::unique_ptr<Scratch> TakeScratch() {
    if (idle != nullptr) return std::move(idle);
    auto scratch = std::make_unique<Scratch>();
    scratch->words.reset(prototype->clone());
    return scratch->words != nullptr ? std::move(scratch) : nullptr;
  }
};

WordSegmenter::WordSegmenter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WordSegmenter::~WordSegmenter() = default;

Result<std::unique_ptr<WordSegmenter>> WordSegmenter::Create() {
  auto impl = std::make_unique<Impl>();
  UErrorCode status = U_ZERO_ERROR;
  impl->prototype.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
  impl->normalizers.nfkc_casefold = unorm2_getNFKCCasefoldInstance(&status);
  impl->normalizers.nfd = unorm2_getNFDInstance(&status);
  impl->normalizers.nfc = unorm2_getNFCInstance(&status);
  if (U_FAILURE(status) || impl->prototype == nullptr) {
    return Internal(std::string("ICU cannot build a word break iterator or normalizer (") +
                    u_errorName(status) + "); check that ICU's data library is installed");
  }
  return std::unique_ptr<WordSegmenter>(new WordSegmenter(std::move(impl)));
}

int WordSegmenter::ForEachWord(std::string_view text, OnWord on_word, void* context) {
  std::unique_ptr<Scratch> scratch = impl_->TakeScratch();
  if (scratch == nullptr) return kIcuFailed;
  int rc = Walk(text, impl_->normalizers, *scratch, on_word, context);
  // Chunks are a few kilobytes; one huge text should not pin six bytes per byte for the life of
  // the connection.
  if (scratch->byte_at.size() > kKeptBufferBytes) scratch->ReleaseTextBuffers();
  if (impl_->idle == nullptr) impl_->idle = std::move(scratch);
  return rc;
}

// ---- The FTS5 tokenizer ----

namespace {

using TokenCallback = int (*)(void* context, int flags, const char* token, int token_size,
                              int start, int end);

WordSegmenter* AsSegmenter(Fts5Tokenizer* tokenizer) {
  return reinterpret_cast<WordSegmenter*>(tokenizer);
}

// C callbacks: no exception may cross into SQLite.
int CreateTokenizer(void*, const char**, int arg_count, Fts5Tokenizer** out) {
  *out = nullptr;
  if (arg_count != 0) return SQLITE_ERROR;  // FTS5 says "error in tokenizer constructor"
  try {
    Result<std::unique_ptr<WordSegmenter>> segmenter = WordSegmenter::Create();
    if (!segmenter.ok()) return SQLITE_ERROR;
    *out = reinterpret_cast<Fts5Tokenizer*>(segmenter->release());
    return SQLITE_OK;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
}

void DeleteTokenizer(Fts5Tokenizer* tokenizer) { delete AsSegmenter(tokenizer); }

int Tokenize(Fts5Tokenizer* tokenizer, void* context, int /*flags*/, const char* text, int size,
             TokenCallback on_token) {
  if (text == nullptr || size <= 0) return SQLITE_OK;
  auto emit = [&](std::string_view folded, int start, int end) {
    return on_token(context, 0, folded.data(), static_cast<int>(folded.size()), start, end);
  };
  try {
    int rc = AsSegmenter(tokenizer)->ForEachWord(std::string_view(text, size), emit);
    return rc == WordSegmenter::kIcuFailed ? SQLITE_ERROR : rc;
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
}

}  // namespace

Status RegisterIcuTokenizer(sqlite3* db) {
  constexpr std::string_view kSql = "SELECT fts5(?1)";
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, kSql.data(), static_cast<int>(kSql.size()), &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> statement(raw, sqlite3_finalize);
  if (rc != SQLITE_OK) {
    return SqliteStatus(db, rc, kSql)
        .WithContext("looking up FTS5 (Cloister needs SQLite built with FTS5)");
  }
  fts5_api* api = nullptr;
  rc = sqlite3_bind_pointer(raw, 1, &api, "fts5_api_ptr", nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteStatus(db, rc, kSql);
  if (api == nullptr) return Internal("SQLite has no FTS5; Cloister needs SQLite built with FTS5");
  fts5_tokenizer tokenizer = {CreateTokenizer, DeleteTokenizer, Tokenize};
  rc = api->xCreateTokenizer(api, kIcuTokenizerName, nullptr, &tokenizer, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteStatus(db, rc, "")
        .WithContext(std::string("registering the FTS5 tokenizer ") + kIcuTokenizerName);
  }
  return Status::Ok();
}

}  // namespace cloister::storage::internal
