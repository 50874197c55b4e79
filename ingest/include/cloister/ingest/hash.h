// Content hashes of original files: they decide what changed and what is a duplicate.
#pragma once

#include <filesystem>
#include <string>

#include "cloister/core/status.h"

namespace cloister::ingest {

// SHA-256 of the file's bytes as 64 lower-case hex digits, read in blocks (any size).
// kNotFound if the file cannot be opened; kInternal on a read error.
Result<std::string> HashFile(const std::filesystem::path& path);

}  // namespace cloister::ingest
