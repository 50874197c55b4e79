#include "cloister/core/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace cloister::log {
namespace {

Level InitialLevel() {
  Level level = Level::kInfo;
  if (const char* env = std::getenv("CLOISTER_LOG")) ParseLevel(env, &level);
  return level;
}

std::atomic<Level>& Threshold() {
  static std::atomic<Level> level{InitialLevel()};
  return level;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kOff: return "off";
  }
  return "info";
}

// Values with spaces or quotes are quoted so a line stays machine-splittable.
void AppendValue(std::string& line, const std::string& value) {
  if (value.find_first_of(" \"=\n\t") == std::string::npos && !value.empty()) {
    line += value;
    return;
  }
  line += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') line += '\\';
    if (c == '\n') { line += "\\n"; continue; }
    line += c;
  }
  line += '"';
}

}  // namespace

void SetLevel(Level level) { Threshold() = level; }
Level GetLevel() { return Threshold(); }

bool ParseLevel(std::string_view text, Level* level) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    if (text == LevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

void Write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields) {
  if (level < Threshold() || level == Level::kOff) return;
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);

  std::string line;
  line.reserve(128);
  line.append(stamp).append(" ").append(LevelName(level)).append(" ");
  line.append(component).append(": ").append(message);
  for (const auto& [key, value] : fields) {
    line.append(" ").append(key).append("=");
    AppendValue(line, value);
  }
  line += '\n';
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace cloister::log
