#include "normalize.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "cloister/ingest/chunk.h"
#include "scripts.h"

namespace cloister::ingest {
namespace {

enum class Kind { kVisible, kSpace, kLineBreak, kParagraphBreak, kDropped };

Kind Classify(UChar32 c) {
  switch (c) {
    case ' ':
    case '\t':
    case 0xA0:
    case 0x1680:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return Kind::kSpace;
    case '\n':
    case '\r':
    case '\v':
    case 0x85:
    case 0x2028:
      return Kind::kLineBreak;
    case '\f':
    case 0x2029:  // pdftotext ends pages with a form feed
      return Kind::kParagraphBreak;
    case 0xAD:
    case 0x200B:
    case 0x2060:
    case 0xFEFF:  // soft hyphen, zero-width characters
      return Kind::kDropped;
    default:
      break;
  }
  if (c >= 0x2000 && c <= 0x200A) return Kind::kSpace;
  if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) return Kind::kDropped;
  return Kind::kVisible;
}

bool IsHyphen(UChar32 c) { return c == '-' || c == 0x2010; }

bool IsBullet(UChar32 c) {
  static constexpr std::u32string_view kBullets =
      U"-*+\u2022\u25E6\u25AA\u2023\u2013\u2014\u00B7\u25CF\u25CB\u25A0";
  return kBullets.find(static_cast<char32_t>(c)) != std::u32string_view::npos;
}

bool IsDigit(UChar32 c) { return c >= '0' && c <= '9'; }

// Latin typographic ligatures (U+FB00..U+FB06), which PDF text layers are full of: spelled out,
// or "ﬁnd" would never match a search for "find". NFC leaves them alone; full NFKC would also
// rewrite superscripts, fractions and full-width forms, which we keep.
std::string_view Ligature(UChar32 c) {
  static constexpr std::string_view kSpelled[] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};
  return c >= 0xFB00 && c <= 0xFB06 ? kSpelled[c - 0xFB00] : std::string_view();
}

// Cleans one pass over the input; NFC comes after, so removals cannot leave text unnormalised.
class Cleaner {
 public:
  explicit Cleaner(std::string_view in) : in_(in) { out_.reserve(in.size()); }

  std::string Run() && {
    const auto* s = reinterpret_cast<const uint8_t*>(in_.data());
    int64_t n = static_cast<int64_t>(in_.size());
    for (int64_t i = 0; i < n;) {
      UChar32 c;
      int64_t start = i;
      U8_NEXT(s, i, n, c);
      if (c < 0) c = 0xFFFD;  // invalid or truncated sequence
      if (c == '\r' && i < n && s[i] == '\n') ++i;
      switch (Classify(c)) {
        case Kind::kVisible:
          Visible(c, start, static_cast<size_t>(i));
          break;
        case Kind::kSpace:
          space_ = true;
          break;
        case Kind::kLineBreak:
          ++newlines_;
          break;
        case Kind::kParagraphBreak:
          newlines_ += 2;
          break;
        case Kind::kDropped:
          break;
      }
    }
    if (list_ != List::kNone) EndListItem(false);
    return std::move(out_);
  }

 private:
  // After a kept line break, where we are in the list marker that justified it: "- " or "12. ".
  enum class List { kNone, kBullet, kDigits, kPunct };

  void Visible(UChar32 c, int64_t start, size_t next) {
    if (list_ != List::kNone) ReadListMarker(c);
    if (!out_.empty()) {
      if (newlines_ >= 2) {
        out_ += "\n\n";
      } else if (newlines_ == 1) {
        JoinLines(c);
      } else if (space_) {
        out_ += ' ';
      }
    }
    newlines_ = 0;
    space_ = false;
    if (c == 0xFFFD) {  // the input bytes may be an invalid sequence
      out_ += "\xEF\xBF\xBD";
    } else if (std::string_view spelled = Ligature(c); !spelled.empty()) {
      out_ += spelled;
      c = static_cast<unsigned char>(spelled.back());
    } else {
      out_.append(in_.data() + start, next - static_cast<size_t>(start));
    }
    last_ = c;
  }

  // A single line break: a word hyphenated across it is joined, a line that may open a list item
  // keeps its break until the marker is read, text in scripts without spaces joins directly,
  // anything else joins with a space.
  void JoinLines(UChar32 next_char) {
    if (IsHyphen(last_) && u_isalnum(next_char) && LetterBeforeLast()) {
      // "docu-\nment" was one word; "Anglo-\nSaxon" and "COVID-\n19" keep their hyphen.
      if (u_islower(next_char)) out_.resize(out_.size() - U8_LENGTH(last_));
      return;
    }
    if (IsBullet(next_char) || IsDigit(next_char)) {
      list_break_ = out_.size();
      list_ = IsBullet(next_char) ? List::kBullet : List::kDigits;
      digits_ = 1;
      out_ += '\n';
    } else if (!(IsWrittenWithoutSpaces(last_) && IsWrittenWithoutSpaces(next_char))) {
      out_ += ' ';
    }
  }

  // Called with each visible character after a kept break: a list item is a bullet or up to
  // three digits with "." or ")", then a space and text on the same line. Anything else turns
  // the break back into the space it would have been.
  void ReadListMarker(UChar32 c) {
    bool spaced = space_ && newlines_ == 0;
    bool adjacent = !space_ && newlines_ == 0;
    switch (list_) {
      case List::kDigits:
        if (adjacent && IsDigit(c) && ++digits_ <= 3) return;
        if (adjacent && (c == '.' || c == ')')) {
          list_ = List::kPunct;
          return;
        }
        return EndListItem(false);
      case List::kBullet:
      case List::kPunct:
        return EndListItem(spaced);
      case List::kNone:
        return;
    }
  }

  void EndListItem(bool is_item) {
    if (!is_item) out_[list_break_] = ' ';
    list_ = List::kNone;
  }

  // Whether the character before the trailing hyphen of out_ is a letter ("docu-", not " -").
  bool LetterBeforeLast() const {
    size_t end = out_.size() - U8_LENGTH(last_);
    size_t begin = end < 4 ? 0 : end - 4;  // a code point is at most four bytes
    if (end == 0) return false;
    int32_t i = static_cast<int32_t>(end - begin);
    UChar32 c;
    U8_PREV(reinterpret_cast<const uint8_t*>(out_.data() + begin), 0, i, c);
    return c >= 0 && u_isalpha(c);
  }

  std::string_view in_;
  std::string out_;
  int newlines_ = 0;
  bool space_ = false;
  UChar32 last_ = 0;
  List list_ = List::kNone;
  size_t list_break_ = 0;  // offset of the kept line break in out_
  int digits_ = 0;
};

}  // namespace

std::string NormalizeText(std::string_view text) {
  std::string clean = Cleaner(text).Run();
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || nfc->isNormalizedUTF8(clean, status) || U_FAILURE(status)) return clean;
  std::string composed;
  composed.reserve(clean.size());
  icu::StringByteSink<std::string> sink(&composed, static_cast<int32_t>(clean.size()));
  status = U_ZERO_ERROR;
  nfc->normalizeUTF8(0, clean, sink, nullptr, status);
  return U_FAILURE(status) ? clean : composed;
}

std::string NormalizeLine(std::string_view text, size_t max_bytes) {
  // Normalisation only shrinks whitespace runs, so the start of a long text is enough.
  text = text.substr(0, CharacterStart(text, std::min(text.size(), max_bytes * 4 + 64)));
  std::string line = NormalizeText(text);
  size_t out = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\n') {
      line[out++] = line[i];
    } else if (line[out - 1] != ' ') {  // normalised text never starts with a line break
      line[out++] = ' ';
    }
  }
  line.resize(CharacterStart(line, std::min(out, max_bytes)));
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

}  // namespace cloister::ingest
