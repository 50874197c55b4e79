#include "zip.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <memory>

namespace cloister::ingest {
namespace {

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

std::string ErrorOf(archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? e : "unknown libarchive error";
}

// The size an entry may expand to, given the archive's size.
uint64_t EntryLimit(const ZipLimits& limits, uint64_t zip_bytes) {
  uint64_t by_ratio = std::max(limits.ratio_floor, zip_bytes * limits.max_ratio);
  return std::min(limits.max_entry_bytes, by_ratio);
}

// `how`: "to N bytes" from the header, or "beyond what its header claims" while reading.
Status Bomb(const std::string& name, const std::string& how, uint64_t zip_bytes, uint64_t limit) {
  return FailedPrecondition("zip bomb: " + name + " would expand " + how + " from a " +
                            std::to_string(zip_bytes) + "-byte archive, over the limit of " +
                            std::to_string(limit) +
                            " bytes (200 times the archive size, at most 4 x "
                            "ingest.max_text_bytes); the file was not read");
}

Result<std::string> ReadEntry(archive* a, archive_entry* entry, const std::string& name,
                              uint64_t zip_bytes, uint64_t limit) {
  if (archive_entry_is_encrypted(entry)) {
    return FailedPrecondition(name +
                              " is encrypted inside the zip: save the document without a "
                              "password and ingest it again");
  }
  if (archive_entry_size_is_set(entry) &&
      static_cast<uint64_t>(archive_entry_size(entry)) > limit) {
    return Bomb(name, "to " + std::to_string(archive_entry_size(entry)) + " bytes", zip_bytes,
                limit);
  }
  std::string data;
  char buffer[64 << 10];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) return InvalidArgument("cannot decompress " + name + ": " + ErrorOf(a));
    if (data.size() + static_cast<uint64_t>(n) > limit) {
      return Bomb(name, "beyond what its header claims", zip_bytes, limit);
    }
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace

Result<std::map<std::string, std::string>> ReadZipEntries(std::string_view zip,
                                                          const std::vector<std::string>& wanted,
                                                          const ZipLimits& limits) {
  ArchivePtr a(archive_read_new(), archive_read_free);
  if (!a) return Internal("libarchive could not allocate a reader");
  archive_read_support_format_zip(a.get());
  if (archive_read_open_memory(a.get(), zip.data(), zip.size()) != ARCHIVE_OK) {
    return InvalidArgument("not a readable zip archive: " + ErrorOf(a.get()));
  }
  std::map<std::string, std::string> found;
  uint64_t limit = EntryLimit(limits, zip.size());
  archive_entry* entry = nullptr;
  while (found.size() < wanted.size()) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return InvalidArgument("damaged zip archive: " + ErrorOf(a.get()));
    const char* path = archive_entry_pathname(entry);
    if (path == nullptr || found.count(path) ||
        std::find(wanted.begin(), wanted.end(), path) == wanted.end()) {
      continue;
    }
    CLOISTER_ASSIGN_OR_RETURN(std::string data, ReadEntry(a.get(), entry, path, zip.size(), limit));
    found.emplace(path, std::move(data));
  }
  return found;
}

}  // namespace cloister::ingest
