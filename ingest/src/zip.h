// Named entries of a zip archive in memory, read with zip-bomb limits (libarchive). Private to
// ingest; used by the office parsers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/core/status.h"

namespace cloister::ingest {

struct ZipLimits {
  uint64_t max_entry_bytes = 256ull << 20;  // no entry expands beyond this
  // An entry expanding to more than ratio_floor bytes must also stay under max_ratio times the
  // whole archive's size (so certainly under that ratio to its own compressed size).
  uint64_t ratio_floor = 10ull << 20;
  uint64_t max_ratio = 200;
};

// The entries of `zip` whose names are in `wanted`, by name; names the archive lacks are
// missing from the map. Sizes are checked against the limits from the headers first and again
// while the data is read, so a header understating its size does not help a bomb.
// Errors: kInvalidArgument when `zip` is not a readable zip archive; kFailedPrecondition
// "zip bomb: ..." when an entry expands beyond the limits, or when a wanted entry is encrypted.
Result<std::map<std::string, std::string>> ReadZipEntries(std::string_view zip,
                                                          const std::vector<std::string>& wanted,
                                                          const ZipLimits& limits);

}  // namespace cloister::ingest
