// `cloister doctor`: is this installation ready to serve? Each check says ok, warn (works, but
// look) or fail (will not work), with what it found and what to do.
//
//   for (const auto& check : app::RunDoctor(config, config_file)) print(check);
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cloister/app/config.h"

namespace cloister::app {

struct DoctorCheck {
  std::string name;    // "config", "data folder", "disk space", "models", "catalog", ...
  std::string state;   // "ok", "warn", "fail"
  std::string detail;  // what was found, and for warn and fail what to do
};

// Runs every check against `config` (as the layers gave it) and the file it was read from
// ("" for none). Creates nothing; an existing catalog is opened as `cloister status` opens it
// (so one from an older version is migrated, as any command would).
std::vector<DoctorCheck> RunDoctor(const Config& config, const std::filesystem::path& config_file);

}  // namespace cloister::app
