// The KnowledgeBase facade: everything the CLI and the web service do goes through it.
//
//   auto kb = app::KnowledgeBase::Open(config);     // opens (and migrates) the catalog
//   if (!kb.ok()) return kb.status();
//   app::StatusReport status = (*kb)->Status();
//
// It owns the catalog and knows the models found in the models folder. Thread safety: every
// method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/core/status.h"

namespace cloister::app {

struct ModelEntry {
  std::filesystem::path path;
  std::string name;
  std::string kind;          // "embedding" | "chat"
  std::string architecture;
  std::string quantization;  // "Q8_0", "Q4_K_M", "F16", ...
  uint64_t size_bytes = 0;
  uint64_t parameters = 0;
  uint32_t dimension = 0;    // embedding length
  uint32_t context_length = 0;
  std::optional<bool> loads;  // set when a load was tried
  std::string error;          // why it could not be read or loaded
};

struct StatusReport {
  std::string version;
  std::filesystem::path data_dir;
  int64_t documents = 0;
  int64_t chunks = 0;
  int64_t embeddings = 0;
  std::map<std::string, int64_t> documents_by_status;  // ready, partial, failed, queued
  std::map<std::string, int64_t> jobs_by_state;        // queued, extracting, ..., done, failed
  std::optional<ModelEntry> embedding_model;  // the one in use, if any
  std::optional<ModelEntry> chat_model;
  std::string retrieval_mode;  // "hybrid" with an embedding model, else "lexical"
  std::string answer_mode;     // "generated" with a chat model, else "extractive"
  std::string index_kind;      // "none" until vectors exist
  int64_t index_size = 0;
};

class KnowledgeBase {
 public:
  // Creates the data folder if needed and opens the catalog. kFailedPrecondition when the data
  // folder cannot be created or the catalog was written by a newer Cloister; kDataLoss when the
  // catalog file is corrupt.
  static Result<std::unique_ptr<KnowledgeBase>> Open(const Config& config);
  virtual ~KnowledgeBase() = default;

  virtual const Config& config() const = 0;
  virtual Result<StatusReport> Status() = 0;
};

// Lists the models in `models_dir` (no catalog needed). With `try_load`, each is loaded through
// llama.cpp and `loads` says whether that worked.
std::vector<ModelEntry> ListModels(const std::filesystem::path& models_dir, bool try_load);

}  // namespace cloister::app
