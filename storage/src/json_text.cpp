#include "cloister/storage/json_text.h"

#include <cstdio>
#include <utility>

namespace cloister::storage {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the well-formed UTF-8 sequence starting at text[i] (Unicode table 3-7), or,
// negated, the length of its maximal invalid subpart (at least 1) to replace with U+FFFD.
int Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  int length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return -1;
  }
  for (int k = 1; k < length; ++k) {
    if (i + k >= text.size()) return -k;
    unsigned char b = byte(k);
    if (k == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xBF)) return -k;
  }
  return length;
}

constexpr std::pair<unsigned char, std::string_view> kShortEscapes[] = {
    {'"', "\\\""}, {'\\', "\\\\"}, {'\b', "\\b"}, {'\f', "\\f"},
    {'\n', "\\n"}, {'\r', "\\r"},  {'\t', "\\t"}};

void AppendEscaped(std::string& out, unsigned char c) {
  for (const auto& [character, escape] : kShortEscapes) {
    if (c == character) {
      out += escape;
      return;
    }
  }
  char escape[8];
  std::snprintf(escape, sizeof(escape), "\\u%04x", c);
  out += escape;
}

void AppendQuoted(std::string& out, std::string_view text) {
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == '"' || c == '\\') {
      AppendEscaped(out, c);
      ++i;
      continue;
    }
    int length = Utf8SequenceLength(text, i);
    if (length < 0) {
      out += kReplacement;
      i += static_cast<size_t>(-length);
    } else {
      out.append(text, i, static_cast<size_t>(length));
      i += static_cast<size_t>(length);
    }
  }
  out += '"';
}

void AppendKey(std::string& out, std::string_view key) {
  out += out.size() > 1 ? "," : "";
  AppendQuoted(out, key);
  out += ':';
}

}  // namespace

std::string JsonQuoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  AppendQuoted(out, text);
  return out;
}

std::string JsonObjectText(const std::vector<std::pair<std::string, std::string>>& fields) {
  return JsonObjectText(fields, {}, {});
}

std::string JsonObjectText(const std::vector<std::pair<std::string, std::string>>& strings,
                           const std::vector<std::pair<std::string, int64_t>>& numbers,
                           const std::vector<std::pair<std::string, bool>>& flags) {
  std::string out = "{";
  for (const auto& [key, value] : strings) {
    AppendKey(out, key);
    AppendQuoted(out, value);
  }
  for (const auto& [key, value] : numbers) {
    AppendKey(out, key);
    out += std::to_string(value);
  }
  for (const auto& [key, value] : flags) {
    AppendKey(out, key);
    out += value ? "true" : "false";
  }
  out += '}';
  return out;
}

}  // namespace cloister::storage
