// Small helpers for the ingest tests (no llama.cpp needed, unlike tests/fixtures).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cloister::ingest::testing_util {

inline std::filesystem::path Corpus() {
  return std::filesystem::path(CLOISTER_SHARED_DIR) / "corpus";
}

inline std::string ReadAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cloister-ingest-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::filesystem::temp_directory_path().string();
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace cloister::ingest::testing_util
