// Companions of NormalizeText (chunk.h). Private to ingest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cloister::ingest {

// NormalizeText on one line: paragraph and line breaks become single spaces; cut between
// characters to at most `max_bytes`. For headings, titles and header values, which are copied
// into every block and chunk they label, so a runaway one must not multiply.
std::string NormalizeLine(std::string_view text, size_t max_bytes = 300);

// `i` moved back to the first byte of the UTF-8 character it points into, so that cutting `s`
// at the result never leaves half a character.
inline size_t CharacterStart(std::string_view s, size_t i) {
  for (int k = 0; k < 3 && i > 0 && i < s.size() && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80;
       ++k) {
    --i;
  }
  return i;
}

}  // namespace cloister::ingest
