#include "markdown.h"

#include <string>
#include <string_view>

namespace cloister::ingest {
namespace {

// Link text and targets longer than this are not links (bounds the look-ahead).
constexpr size_t kMaxLinkText = 1000;
constexpr size_t kMaxLinkTarget = 4000;

bool IsAsciiPunct(char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// A letter or digit, counting any non-ASCII byte as part of a word.
bool IsWordByte(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x80 || (u >= '0' && u <= '9') || ((u | 0x20) >= 'a' && (u | 0x20) <= 'z');
}

std::string_view SkipIndent(std::string_view line) {
  size_t i = 0;
  while (i < 3 && i < line.size() && line[i] == ' ') ++i;
  return line.substr(i);
}

std::string_view TrimSpaces(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") + 1 - b);
}

// The next position of one character at or after `from`. Queries come with growing `from`, so
// the cached answer makes a whole line's queries linear even when no match exists.
class NextOf {
 public:
  NextOf(std::string_view s, char c) : s_(s), c_(c) {}
  size_t From(size_t from) {
    if (pos_ != std::string_view::npos && (!valid_ || pos_ < from)) pos_ = s_.find(c_, from);
    valid_ = true;
    return pos_;
  }

 private:
  std::string_view s_;
  char c_;
  size_t pos_ = 0;
  bool valid_ = false;
};

class InlineReader {
 public:
  explicit InlineReader(std::string_view line)
      : s_(line), close_bracket_(line, ']'), close_paren_(line, ')'), close_angle_(line, '>') {}

  std::string Run() && {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\\' && i_ + 1 < s_.size() && IsAsciiPunct(s_[i_ + 1])) {
        out_ += s_[i_ + 1];
        i_ += 2;
      } else if (c == '`') {
        while (i_ < s_.size() && s_[i_] == '`') ++i_;
      } else if (!(c == '!' && Link(i_ + 1)) && !(c == '[' && Link(i_)) &&
                 !(c == '<' && Autolink())) {
        out_ += c;
        ++i_;
      }
    }
    return std::move(out_);
  }

 private:
  // "[text](target)", "[text][label]" or "[text][]" at `open`: keeps the text.
  bool Link(size_t open) {
    if (open >= s_.size() || s_[open] != '[') return false;
    size_t close = close_bracket_.From(open + 1);
    if (close == std::string_view::npos || close - open > kMaxLinkText || close + 1 >= s_.size()) {
      return false;
    }
    char after = s_[close + 1];
    size_t end = std::string_view::npos;
    if (after == '(') end = close_paren_.From(close + 2);
    if (after == '[') end = close_bracket_.From(close + 2);
    if (end == std::string_view::npos || end - close > kMaxLinkTarget) return false;
    out_.append(s_.substr(open + 1, close - open - 1));
    i_ = end + 1;
    return true;
  }

  // "<https://example.org>" or "<mailto:a@b.c>": keeps the address.
  bool Autolink() {
    std::string_view rest = s_.substr(i_ + 1, 8);
    if (rest.substr(0, 4) != "http" && rest.substr(0, 7) != "mailto:") return false;
    size_t end = close_angle_.From(i_ + 1);
    if (end == std::string_view::npos || end - i_ > kMaxLinkTarget) return false;
    out_.append(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
  std::string out_;
  NextOf close_bracket_, close_paren_, close_angle_;
};

// Drops runs of *, _ and ~~ that open or close emphasis: next to a word on one side only.
// "snake_case", "2 * 3" and a "* " list bullet keep theirs.
std::string StripEmphasis(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c != '*' && c != '_' && c != '~') {
      out += c;
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] == c) ++j;
    char prev = i > 0 ? s[i - 1] : ' ';
    char next = j < s.size() ? s[j] : ' ';
    bool opening = !IsSpace(next) && !IsWordByte(prev);
    bool closing = !IsSpace(prev) && !IsWordByte(next);
    bool marker = (opening || closing) && !(IsWordByte(prev) && IsWordByte(next));
    if (!marker || (c == '~' && j - i < 2)) out.append(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

std::string StripInlineMarkdown(std::string_view line) {
  return StripEmphasis(InlineReader(line).Run());
}

bool ParseAtxHeading(std::string_view line, std::string_view* text) {
  std::string_view s = SkipIndent(line);
  size_t level = 0;
  while (level < s.size() && s[level] == '#') ++level;
  if (level == 0 || level > 6 || (level < s.size() && !IsSpace(s[level]))) return false;
  std::string_view rest = TrimSpaces(s.substr(level));
  size_t hashes = rest.find_last_not_of('#');
  if (hashes == std::string_view::npos) {
    rest = {};
  } else if (hashes + 1 < rest.size() && IsSpace(rest[hashes])) {
    rest = TrimSpaces(rest.substr(0, hashes));
  }
  *text = rest;
  return true;
}

bool IsSetextUnderline(std::string_view line) {
  std::string_view s = SkipIndent(line);
  if (s.empty() || (s[0] != '=' && s[0] != '-')) return false;  // four spaces: code
  s = TrimSpaces(s);
  return s.find_first_not_of(s[0]) == std::string_view::npos;
}

bool IsThematicBreak(std::string_view line) {
  std::string_view s = SkipIndent(line);
  if (s.empty() || (s[0] != '-' && s[0] != '*' && s[0] != '_')) return false;
  size_t marks = 0;
  for (char c : s) {
    if (c == s[0]) {
      ++marks;
    } else if (!IsSpace(c)) {
      return false;
    }
  }
  return marks >= 3;
}

bool IsFence(std::string_view line, std::string_view* fence) {
  std::string_view s = SkipIndent(line);
  if (s.size() < 3 || (s[0] != '`' && s[0] != '~')) return false;
  size_t n = s.find_first_not_of(s[0]);
  if (n == std::string_view::npos) n = s.size();
  if (n < 3) return false;
  // "```code```" on one line is inline code: a backtick fence's info string has no backticks.
  if (s[0] == '`' && s.find('`', n) != std::string_view::npos) return false;
  *fence = s.substr(0, n);
  return true;
}

bool IsLinkDefinition(std::string_view line) {
  std::string_view s = SkipIndent(line);
  if (s.empty() || s[0] != '[') return false;
  size_t close = s.find("]:");
  return close != std::string_view::npos && close > 1 && close < kMaxLinkText &&
         s.substr(1, close - 1).find(']') == std::string_view::npos;
}

}  // namespace cloister::ingest
