// Cloister's run-time configuration: where data, models and the inbox live, and the service's
// address. Only app/ reads configuration (STYLE.md); every module gets its own Options from here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace cloister::app {

struct Config {
  std::filesystem::path data_dir = "data";      // SQLite catalog, FAISS index, originals
  std::filesystem::path models_dir = "models";  // *.gguf, classified as embedding or chat
  std::filesystem::path inbox_dir = "inbox";    // watched folder
  std::string bind = "127.0.0.1";               // serve: listen address
  uint16_t port = 8080;                         // serve: listen port (0: any free port)
  int http_threads = 16;                        // serve: request worker threads

  std::filesystem::path catalog_path() const { return data_dir / "cloister.db"; }
  std::filesystem::path index_path() const { return data_dir / "vectors.faiss"; }
};

}  // namespace cloister::app
