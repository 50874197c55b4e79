// Minimal structured logging to stderr (journald picks it up).
//
//   log::Info("ingest", "document stored", {{"path", p}, {"chunks", std::to_string(n)}});
//
// Lines look like `2026-11-21T10:00:00Z info ingest: document stored path=a.pdf chunks=12`.
// Thread-safe. The threshold defaults to kInfo; CLOISTER_LOG=debug|info|warn|error overrides it.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace cloister::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

using Field = std::pair<std::string_view, std::string>;

void SetLevel(Level level);
Level GetLevel();
// Parses "debug", "info", "warn", "error", "off"; returns false on anything else.
bool ParseLevel(std::string_view text, Level* level);

void Write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields = {});

inline void Debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, c, m, f);
}
inline void Info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, c, m, f);
}
inline void Warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, c, m, f);
}
inline void Error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, c, m, f);
}

}  // namespace cloister::log
