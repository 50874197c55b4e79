#include "cloister/ingest/hash.h"

#include <glib.h>

#include <fstream>
#include <memory>

namespace cloister::ingest {

// GLib's checksum comes with GMime, which ingest links anyway.
Result<std::string> HashFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path.string());
  std::unique_ptr<GChecksum, decltype(&g_checksum_free)> sum(g_checksum_new(G_CHECKSUM_SHA256),
                                                             g_checksum_free);
  std::string buffer(1 << 20, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize n = in.gcount();
    if (n > 0) g_checksum_update(sum.get(), reinterpret_cast<const guchar*>(buffer.data()), n);
  }
  if (in.bad()) return Internal("read error on " + path.string());
  return std::string(g_checksum_get_string(sum.get()));
}

}  // namespace cloister::ingest
