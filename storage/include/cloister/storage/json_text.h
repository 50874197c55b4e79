// JSON text for the catalog's metadata columns: flat objects of strings, integers and booleans
// that SQLite's json_valid() always accepts, whatever bytes the values hold.
//
//   doc.metadata = JsonObjectText({{"from", sender}, {"subject", subject}});
//   doc.metadata = JsonObjectText({{"from", sender}}, {{"attachments", 2}}, {{"signed", true}});
//
// Strings (keys and values) are escaped per RFC 8259: '"' and '\' with a backslash, control
// characters below U+0020 as \n, \t, ... or \u00XX (NUL included); every other character is
// written as UTF-8. Bytes that are not valid UTF-8 (a stray continuation byte, a truncated or
// overlong sequence, a surrogate, anything above U+10FFFF) become U+FFFD, one per maximal
// invalid subpart as the Unicode standard recommends. Keys are written as given: repeating one
// makes JSON that SQLite reads with the last value winning.
//
// Pure functions, no errors, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cloister::storage {

// `text` as a JSON string literal, quotes included.
std::string JsonQuoted(std::string_view text);

// A JSON object of string values, in the order given: {"k1":"v1","k2":"v2"}; "{}" when empty.
std::string JsonObjectText(const std::vector<std::pair<std::string, std::string>>& fields);

// A JSON object of the strings, then the numbers, then the flags (true/false), each in the order
// given.
std::string JsonObjectText(const std::vector<std::pair<std::string, std::string>>& strings,
                           const std::vector<std::pair<std::string, int64_t>>& numbers,
                           const std::vector<std::pair<std::string, bool>>& flags);

}  // namespace cloister::storage
