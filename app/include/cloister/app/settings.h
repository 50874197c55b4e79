// Cloister's settings by name, and the configuration file that sets them.
//
// Every field of Config has a name "section.key" (for the file: `key = value` under
// `[section]`; for the environment: CLOISTER_SECTION_KEY). Layers, lowest first: the defaults
// in config.h, the file, the environment, the command line's flags (the CLI applies those last).
//
//   app::Config config;
//   CLOISTER_RETURN_IF_ERROR(app::ApplyConfigFile(config, "/etc/cloister/cloister.conf"));
//   CLOISTER_RETURN_IF_ERROR(app::ApplyEnvironment(config, environ));
//
// The file is INI as Poco's IniFileConfiguration reads it: `[section]` lines, `key = value`
// lines, `;` or `#` comment lines, blank lines; keys and section names are case-insensitive;
// values are taken as written (surrounding blanks trimmed). Read by hand rather than with Poco
// (web's library) because a mistake must be reported with its line, which Poco does not give.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/core/status.h"

namespace cloister::app {

struct SettingInfo {
  std::string name;           // "server.port"
  std::string value;          // its value in the Config it was read from, as the file writes it
  std::string help;           // one line, with the accepted values
};

// Every setting, in file order, with its value in `config` (Config{} gives the defaults).
std::vector<SettingInfo> DescribeSettings(const Config& config);

// Sets one setting from its text. kInvalidArgument names the setting and what it accepts;
// kNotFound for a name no setting has (with the closest known name, when one is close).
Status ApplySetting(Config& config, std::string_view name, std::string_view value);

// A mistake in a configuration file, for `cloister config check`.
struct ConfigProblem {
  int line = 0;       // 1-based; 0 for the file as a whole (missing, unreadable)
  std::string key;    // "section.key", or "" for a line that is not a setting at all
  std::string message;
};

// Every problem in the file (empty: it is valid). Settings are applied to `config` as read.
std::vector<ConfigProblem> ReadConfigFile(Config& config, const std::filesystem::path& file);

// Applies the file on top of `config`; the first problem as kInvalidArgument
// ("FILE:LINE: section.key: message"), or kNotFound when the file does not exist.
Status ApplyConfigFile(Config& config, const std::filesystem::path& file);

// Applies CLOISTER_<SECTION>_<KEY> variables (e.g. CLOISTER_SERVER_PORT=9000) from an
// environ-style array. Variables of other CLOISTER_ names that are not settings are ignored
// (CLOISTER_LOG, CLOISTER_CHAT_API_KEY, ...). kInvalidArgument names the variable.
Status ApplyEnvironment(Config& config, char** environment);

// The file the service reads when none is named: ./cloister.conf when it exists, else
// /etc/cloister/cloister.conf when it exists, else "" (defaults only).
std::filesystem::path DefaultConfigFile();

}  // namespace cloister::app
