#include <algorithm>

#include "cloister/app/knowledge_base.h"
#include "cloister/llm/model_info.h"

namespace cloister::app {

std::vector<ModelEntry> ListModels(const std::filesystem::path& models_dir, bool try_load) {
  llm::ModelScan scan = llm::ScanModels(models_dir);
  std::vector<ModelEntry> entries;
  for (const auto& info : scan.models) {
    ModelEntry e;
    e.path = info.path;
    e.name = info.name;
    e.kind = llm::ModelKindName(info.kind);
    e.architecture = info.architecture;
    e.quantization = info.quantization;
    e.size_bytes = info.size_bytes;
    e.parameters = info.parameters;
    e.dimension = info.embedding_length;
    e.context_length = info.context_length;
    if (try_load) {
      Status loaded = llm::CheckModelLoads(info.path);
      e.loads = loaded.ok();
      if (!loaded.ok()) e.error = loaded.message();
    }
    entries.push_back(std::move(e));
  }
  for (const auto& [path, status] : scan.errors) {
    ModelEntry e;
    e.path = path;
    e.name = path.stem().string();
    e.kind = "unknown";
    e.loads = false;
    e.error = status.message();
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const ModelEntry& a, const ModelEntry& b) { return a.path < b.path; });
  return entries;
}

}  // namespace cloister::app
