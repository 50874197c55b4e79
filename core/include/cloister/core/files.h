// File helpers shared by every module: whole-file reads and crash-safe writes.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "cloister/core/status.h"

namespace cloister {

// Reads a whole file. kNotFound if it does not exist; kInvalidArgument if it is larger than
// `max_bytes`; kInternal on an I/O error. The message names the path.
Result<std::string> ReadFile(const std::filesystem::path& path,
                             size_t max_bytes = static_cast<size_t>(1) << 30);

// Reads at most the first `n` bytes of a file (all of it when shorter). kNotFound if missing.
Result<std::string> ReadFileHead(const std::filesystem::path& path, size_t n);

// Writes `data` to a temporary file beside `path`, fsyncs it and renames it over `path`, so a
// reader (or a crash) sees either the old file or the new one, never a mix.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data);

// Creates `dir` and its parents if missing; kFailedPrecondition naming the path otherwise.
Status EnsureDirectory(const std::filesystem::path& dir);

}  // namespace cloister
