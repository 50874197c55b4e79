#include "cloister/llm/model_info.h"

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <string_view>
#include <system_error>

#include "cloister/llm/runtime.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

namespace cloister::llm {
namespace fs = std::filesystem;
namespace {

using GgufPtr = std::unique_ptr<gguf_context, decltype(&gguf_free)>;

// Encoder-only architectures llama.cpp runs as embedding models.
constexpr std::array<std::string_view, 9> kEncoderArchitectures = {
    "bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3",
    "modern-bert", "neo-bert", "eurobert", "t5encoder"};

// general.file_type values (llama.h's llama_ftype) as users know them from model file names.
const char* FileTypeName(uint32_t ftype) {
  static const std::map<uint32_t, const char*> kNames = {
      {0, "F32"},     {1, "F16"},      {2, "Q4_0"},    {3, "Q4_1"},     {7, "Q8_0"},
      {8, "Q5_0"},    {9, "Q5_1"},     {10, "Q2_K"},   {11, "Q3_K_S"},  {12, "Q3_K_M"},
      {13, "Q3_K_L"}, {14, "Q4_K_S"},  {15, "Q4_K_M"}, {16, "Q5_K_S"},  {17, "Q5_K_M"},
      {18, "Q6_K"},   {19, "IQ2_XXS"}, {20, "IQ2_XS"}, {21, "Q2_K_S"},  {22, "IQ3_XS"},
      {23, "IQ3_XXS"}, {24, "IQ1_S"},  {25, "IQ4_NL"}, {26, "IQ3_S"},   {27, "IQ3_M"},
      {28, "IQ2_S"},  {29, "IQ2_M"},   {30, "IQ4_XS"}, {31, "IQ1_M"},   {32, "BF16"},
      {36, "TQ1_0"},  {37, "TQ2_0"},   {38, "MXFP4_MOE"}};
  auto it = kNames.find(ftype);
  return it == kNames.end() ? nullptr : it->second;
}

std::string GetString(const gguf_context* ctx, const std::string& key) {
  int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_STRING) return {};
  return gguf_get_val_str(ctx, id);
}

// Integer keys are written with varying widths by different converters.
bool GetUint(const gguf_context* ctx, const std::string& key, uint64_t* out) {
  int64_t id = gguf_find_key(ctx, key.c_str());
  if (id < 0) return false;
  switch (gguf_get_kv_type(ctx, id)) {
    case GGUF_TYPE_UINT8: *out = gguf_get_val_u8(ctx, id); return true;
    case GGUF_TYPE_UINT16: *out = gguf_get_val_u16(ctx, id); return true;
    case GGUF_TYPE_UINT32: *out = gguf_get_val_u32(ctx, id); return true;
    case GGUF_TYPE_UINT64: *out = gguf_get_val_u64(ctx, id); return true;
    case GGUF_TYPE_INT8: *out = static_cast<uint64_t>(std::max<int8_t>(0, gguf_get_val_i8(ctx, id))); return true;
    case GGUF_TYPE_INT16: *out = static_cast<uint64_t>(std::max<int16_t>(0, gguf_get_val_i16(ctx, id))); return true;
    case GGUF_TYPE_INT32: *out = static_cast<uint64_t>(std::max(0, gguf_get_val_i32(ctx, id))); return true;
    case GGUF_TYPE_INT64: *out = static_cast<uint64_t>(std::max<int64_t>(0, gguf_get_val_i64(ctx, id))); return true;
    default: return false;
  }
}

const char* PoolingName(uint64_t pooling) {
  switch (pooling) {
    case 0: return "none";
    case 1: return "mean";
    case 2: return "cls";
    case 3: return "last";
    case 4: return "rank";
    default: return "unknown";
  }
}

// Without general.file_type, name the tensor type holding most of the bytes ("q8_0" -> "Q8_0").
std::string DominantTensorType(const gguf_context* ctx, uint64_t* parameters) {
  std::map<ggml_type, size_t> bytes;
  for (int64_t i = 0; i < gguf_get_n_tensors(ctx); ++i) {
    const int64_t* ne = gguf_get_tensor_ne(ctx, i);
    uint64_t n = 1;
    for (int d = 0; d < GGML_MAX_DIMS; ++d) n *= static_cast<uint64_t>(ne[d]);
    *parameters += n;
    bytes[gguf_get_tensor_type(ctx, i)] += gguf_get_tensor_size(ctx, i);
  }
  if (bytes.empty()) return "unknown";
  auto top = std::max_element(bytes.begin(), bytes.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; });
  std::string name = ggml_type_name(top->first);
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  return name;
}

ModelKind Classify(const std::string& arch, const std::string& pooling) {
  bool encoder = std::find(kEncoderArchitectures.begin(), kEncoderArchitectures.end(), arch) !=
                 kEncoderArchitectures.end();
  bool pools = !pooling.empty() && pooling != "none";
  return encoder || pools ? ModelKind::kEmbedding : ModelKind::kChat;
}

}  // namespace

const char* ModelKindName(ModelKind kind) {
  return kind == ModelKind::kEmbedding ? "embedding" : "chat";
}

Result<ModelInfo> InspectModel(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFound("no model file " + path.string());
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  GgufPtr ctx(gguf_init_from_file(path.c_str(), params), gguf_free);
  if (!ctx) {
    return InvalidArgument(path.string() + " is not a readable GGUF file (bad magic, version or "
                           "truncated header); download it again");
  }
  ModelInfo info;
  info.path = path;
  info.size_bytes = fs::file_size(path, ec);
  info.architecture = GetString(ctx.get(), "general.architecture");
  if (info.architecture.empty()) {
    return InvalidArgument(path.string() + " has no general.architecture: not a llama.cpp model");
  }
  info.name = GetString(ctx.get(), "general.name");
  if (info.name.empty()) info.name = path.stem().string();
  const std::string& a = info.architecture;
  uint64_t v = 0;
  if (GetUint(ctx.get(), a + ".context_length", &v)) info.context_length = static_cast<uint32_t>(v);
  if (GetUint(ctx.get(), a + ".embedding_length", &v)) info.embedding_length = static_cast<uint32_t>(v);
  if (GetUint(ctx.get(), a + ".pooling_type", &v)) info.pooling = PoolingName(v);
  info.has_chat_template = gguf_find_key(ctx.get(), "tokenizer.chat_template") >= 0;
  std::string dominant = DominantTensorType(ctx.get(), &info.parameters);
  const char* ftype = GetUint(ctx.get(), "general.file_type", &v) ? FileTypeName(static_cast<uint32_t>(v)) : nullptr;
  info.quantization = ftype ? ftype : dominant;
  info.kind = Classify(info.architecture, info.pooling);
  return info;
}

Status CheckModelLoads(const fs::path& path) {
  InitBackend();
  llama_model_params params = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(path.c_str(), params);
  if (!model) {
    return FailedPrecondition("llama.cpp could not load " + path.string() +
                              " (unsupported architecture, missing tensors or truncated file; "
                              "run with CLOISTER_LOG=debug for its reason)");
  }
  llama_model_free(model);
  return Status::Ok();
}

ModelScan ScanModels(const fs::path& dir) {
  ModelScan scan;
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".gguf") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto info = InspectModel(file);
    if (info.ok()) {
      scan.models.push_back(std::move(info).value());
    } else {
      scan.errors.emplace_back(file, info.status());
    }
  }
  return scan;
}

}  // namespace cloister::llm
