#include "cloister/core/dates.h"

#include <ctime>
#include <string>

namespace cloister {

std::optional<int64_t> ParseIsoDate(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%d", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace cloister
