// What a GGUF model file is, read from its header without loading its weights.
//
//   Result<ModelInfo> info = llm::InspectModel("models/bge-small-en-v1.5-q8_0.gguf");
//   if (info.ok() && info->kind == ModelKind::kEmbedding) ...
//
// Classification: a model is an embedding model when its architecture is encoder-only
// (bert, nomic-bert, jina-bert, modern-bert, ...) or when it declares a pooling type
// (`<arch>.pooling_type` other than none, as decoder embedding models such as Qwen3-Embedding do);
// otherwise it is a chat (generation) model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cloister/core/status.h"

namespace cloister::llm {

enum class ModelKind { kEmbedding, kChat };
const char* ModelKindName(ModelKind kind);  // "embedding" | "chat"

struct ModelInfo {
  std::filesystem::path path;
  ModelKind kind = ModelKind::kChat;
  std::string architecture;   // general.architecture, e.g. "bert", "llama", "qwen2"
  std::string name;           // general.name, or the file stem when absent
  std::string quantization;   // "Q8_0", "Q4_K_M", "F16", ... from general.file_type, else the
                              // dominant tensor type
  uint64_t size_bytes = 0;    // file size
  uint64_t parameters = 0;    // element count over all tensors
  uint32_t context_length = 0;    // <arch>.context_length (0 when absent)
  uint32_t embedding_length = 0;  // <arch>.embedding_length: the vector dimension of embeddings
  std::string pooling;        // "none", "mean", "cls", "last", "rank" or "" when undeclared
  bool has_chat_template = false;  // tokenizer.chat_template present
};

// Reads the GGUF header. kNotFound if the file is missing; kInvalidArgument naming the file if it
// is not a readable GGUF file or lacks general.architecture.
Result<ModelInfo> InspectModel(const std::filesystem::path& path);

// Loads the weights through llama.cpp (memory-mapped, no context) and frees them again.
// kFailedPrecondition with llama.cpp's reason when the model does not load (unsupported
// architecture, missing tensors, truncated file).
Status CheckModelLoads(const std::filesystem::path& path);

// Every `*.gguf` directly inside `dir`, sorted by file name, with the ones that could not be read
// reported in `errors` (path, reason) rather than dropped. A missing directory is an empty list.
struct ModelScan {
  std::vector<ModelInfo> models;
  std::vector<std::pair<std::filesystem::path, Status>> errors;
};
ModelScan ScanModels(const std::filesystem::path& dir);

}  // namespace cloister::llm
