// Calendar dates as users type them ("2024-03-01"), for filters on the command line and the API.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace cloister {

// "YYYY-MM-DD" as unix seconds at UTC midnight; std::nullopt when malformed.
std::optional<int64_t> ParseIsoDate(std::string_view text);

}  // namespace cloister
