// UTF-8 checks for text that crosses a trust boundary: request bodies, URLs, and the bytes a
// language model writes (a model may emit any byte sequence, not only whole characters).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cloister {

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at text[i], or 0 when none
// does there: a stray continuation byte, an overlong form, a surrogate, a code point past
// U+10FFFF, or a sequence cut short (by the end of `text` too).
size_t Utf8SequenceAt(std::string_view text, size_t i);

// The offset of the first byte that does not start a well-formed sequence, or npos.
size_t InvalidUtf8At(std::string_view text);

// `text` with each byte that does not start a well-formed sequence replaced by U+FFFD.
std::string ToValidUtf8(std::string_view text);

}  // namespace cloister
