// Code point classes shared by normalisation and chunking. Private to ingest.
//
// Plain range checks rather than ICU script lookups: they run once per character of every
// document, and only these few scripts need telling apart.
#pragma once

#include <cstdint>

namespace cloister::ingest {

// Scripts written without spaces between words (Han, Kana, Thai, Lao, Myanmar, Khmer), and
// the CJK punctuation and full-width forms used with them: line breaks inside such text are
// joined without a space.
inline bool IsWrittenWithoutSpaces(int32_t c) {
  return (c >= 0x0E00 && c <= 0x0EFF) ||  // Thai, Lao
         (c >= 0x1000 && c <= 0x109F) ||  // Myanmar
         (c >= 0x1780 && c <= 0x17FF) ||  // Khmer
         (c >= 0x2E80 && c <= 0x30FF) ||  // CJK radicals, punctuation, Hiragana, Katakana
         (c >= 0x31F0 && c <= 0x31FF) ||  // Katakana extensions
         (c >= 0x3400 && c <= 0x4DBF) ||  // CJK extension A
         (c >= 0x4E00 && c <= 0x9FFF) ||  // CJK unified ideographs
         (c >= 0xF900 && c <= 0xFAFF) ||  // CJK compatibility ideographs
         (c >= 0xFF00 && c <= 0xFFEF) ||  // half- and full-width forms
         (c >= 0x20000 && c <= 0x3FFFF);  // CJK extensions B and later
}

// Characters an embedding tokenizer typically spends a whole token on: the scripts above plus
// Hangul syllables and jamo (Korean uses spaces but its syllables rarely merge into tokens).
inline bool IsTokenPerCharacter(int32_t c) {
  return IsWrittenWithoutSpaces(c) || (c >= 0x1100 && c <= 0x11FF) ||
         (c >= 0x3130 && c <= 0x318F) || (c >= 0xAC00 && c <= 0xD7AF);
}

}  // namespace cloister::ingest
