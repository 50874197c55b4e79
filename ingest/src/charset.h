// Bytes in any charset to UTF-8, with ICU. Private to ingest.
#pragma once

#include <string>
#include <string_view>

namespace cloister::ingest {

struct Decoded {
  std::string text;     // valid UTF-8 (undecodable bytes become U+FFFD)
  std::string charset;  // the charset used, as ICU names it
  bool detected = false;  // true when the declared charset was missing or wrong and ICU guessed
};

// Decodes `bytes`. `declared` is the charset the container claims ("" when none). The declared
// charset is trusted when it decodes the bytes without errors (and is not plain ASCII over
// 8-bit data); otherwise ICU's detector picks one. Valid UTF-8 input without a declaration is
// kept as is. A UTF-8/UTF-16/UTF-32 byte-order mark wins over everything.
Decoded DecodeToUtf8(std::string_view bytes, std::string_view declared = "");

// True when `bytes` is well-formed UTF-8.
bool IsValidUtf8(std::string_view bytes);

}  // namespace cloister::ingest
