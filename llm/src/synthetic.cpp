#include "cloister/llm/synthetic.h"

#include <map>
#include <memory>
#include <random>
#include <system_error>
#include <vector>

#include "cloister/llm/runtime.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

namespace cloister::llm {
namespace fs = std::filesystem;
namespace {

using GgufPtr = std::unique_ptr<gguf_context, decltype(&gguf_free)>;
using GgmlPtr = std::unique_ptr<ggml_context, decltype(&ggml_free)>;

enum class Init { kRandom, kOnes, kZeros };

struct TensorDef {
  std::string name;
  int64_t ne0;
  int64_t ne1;  // 0 for a vector
  Init init;
  // Added to activations with ggml_add, whose CPU kernel wants F32 operands: converters keep
  // these in F32 too.
  bool always_f32 = false;
};

void AddLinear(std::vector<TensorDef>& t, const std::string& name, int64_t in, int64_t out,
               bool bias) {
  t.push_back({name + ".weight", in, out, Init::kRandom});
  if (bias) t.push_back({name + ".bias", out, 0, Init::kZeros});
}

void AddNorm(std::vector<TensorDef>& t, const std::string& name, int64_t n, bool bias) {
  t.push_back({name + ".weight", n, 0, Init::kOnes});
  if (bias) t.push_back({name + ".bias", n, 0, Init::kZeros});
}

std::vector<TensorDef> BertTensors(const SyntheticModelSpec& s, int64_t n_vocab) {
  std::vector<TensorDef> t;
  t.push_back({"token_embd.weight", s.n_embd, n_vocab, Init::kRandom});
  t.push_back({"token_types.weight", s.n_embd, 2, Init::kRandom, true});
  t.push_back({"position_embd.weight", s.n_embd, s.n_ctx, Init::kRandom, true});
  AddNorm(t, "token_embd_norm", s.n_embd, true);
  for (uint32_t i = 0; i < s.n_layer; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    for (const char* p : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      AddLinear(t, b + p, s.n_embd, s.n_embd, true);
    }
    AddNorm(t, b + "attn_output_norm", s.n_embd, true);
    AddLinear(t, b + "ffn_up", s.n_embd, s.n_ff, true);
    AddLinear(t, b + "ffn_down", s.n_ff, s.n_embd, true);
    AddNorm(t, b + "layer_output_norm", s.n_embd, true);
  }
  return t;
}

// llama and qwen2 differ only in Q/K/V biases and qwen2's tied output embedding.
std::vector<TensorDef> DecoderTensors(const SyntheticModelSpec& s, int64_t n_vocab) {
  const bool qwen = s.architecture == "qwen2";
  const int64_t n_kv = s.n_embd / s.n_head * s.n_head_kv;
  std::vector<TensorDef> t;
  t.push_back({"token_embd.weight", s.n_embd, n_vocab, Init::kRandom});
  AddNorm(t, "output_norm", s.n_embd, false);
  if (!qwen) t.push_back({"output.weight", s.n_embd, n_vocab, Init::kRandom});
  for (uint32_t i = 0; i < s.n_layer; ++i) {
    std::string b = "blk." + std::to_string(i) + ".";
    AddNorm(t, b + "attn_norm", s.n_embd, false);
    AddLinear(t, b + "attn_q", s.n_embd, s.n_embd, qwen);
    AddLinear(t, b + "attn_k", s.n_embd, n_kv, qwen);
    AddLinear(t, b + "attn_v", s.n_embd, n_kv, qwen);
    AddLinear(t, b + "attn_output", s.n_embd, s.n_embd, false);
    AddNorm(t, b + "ffn_norm", s.n_embd, false);
    AddLinear(t, b + "ffn_gate", s.n_embd, s.n_ff, false);
    AddLinear(t, b + "ffn_up", s.n_embd, s.n_ff, false);
    AddLinear(t, b + "ffn_down", s.n_ff, s.n_embd, false);
  }
  return t;
}

void SetHyperparameters(gguf_context* ctx, const SyntheticModelSpec& s) {
  const std::string a = s.architecture + ".";
  gguf_set_val_str(ctx, "general.architecture", s.architecture.c_str());
  gguf_set_val_str(ctx, "general.name", s.name.c_str());
  gguf_set_val_u32(ctx, "general.file_type", s.f16_weights ? 1 : 0);
  gguf_set_val_u32(ctx, (a + "context_length").c_str(), s.n_ctx);
  gguf_set_val_u32(ctx, (a + "embedding_length").c_str(), s.n_embd);
  gguf_set_val_u32(ctx, (a + "feed_forward_length").c_str(), s.n_ff);
  gguf_set_val_u32(ctx, (a + "block_count").c_str(), s.n_layer);
  gguf_set_val_u32(ctx, (a + "attention.head_count").c_str(), s.n_head);
  if (s.architecture == "bert") {
    gguf_set_val_f32(ctx, (a + "attention.layer_norm_epsilon").c_str(), 1e-12f);
    gguf_set_val_bool(ctx, (a + "attention.causal").c_str(), false);
    gguf_set_val_u32(ctx, (a + "pooling_type").c_str(), 2);  // CLS, as bge declares
    gguf_set_val_u32(ctx, "tokenizer.ggml.token_type_count", 2);
    return;
  }
  gguf_set_val_u32(ctx, (a + "attention.head_count_kv").c_str(), s.n_head_kv);
  gguf_set_val_f32(ctx, (a + "attention.layer_norm_rms_epsilon").c_str(), 1e-6f);
  gguf_set_val_u32(ctx, (a + "rope.dimension_count").c_str(), s.n_embd / s.n_head);
  gguf_set_val_f32(ctx, (a + "rope.freq_base").c_str(),
                   s.architecture == "qwen2" ? 1000000.0f : 10000.0f);
}

Status ValidateSpec(const SyntheticModelSpec& s) {
  if (s.architecture != "bert" && s.architecture != "llama" && s.architecture != "qwen2") {
    return InvalidArgument("unknown synthetic architecture '" + s.architecture +
                           "' (bert, llama or qwen2)");
  }
  if (s.n_head == 0 || s.n_embd % s.n_head != 0 || s.n_head_kv == 0 ||
      s.n_head % s.n_head_kv != 0 || s.n_layer == 0 || s.n_ff == 0 || s.n_ctx == 0) {
    return InvalidArgument("inconsistent synthetic model shape: n_embd must divide by n_head and "
                           "n_head by n_head_kv, all sizes positive");
  }
  return Status::Ok();
}

void Fill(ggml_tensor* tensor, Init init, std::mt19937_64& rng, float stddev) {
  const int64_t n = ggml_nelements(tensor);
  std::normal_distribution<float> normal(0.0f, stddev);
  auto value = [&] { return init == Init::kRandom ? normal(rng) : init == Init::kOnes ? 1.0f : 0.0f; };
  if (tensor->type == GGML_TYPE_F16) {
    auto* data = static_cast<ggml_fp16_t*>(tensor->data);
    for (int64_t i = 0; i < n; ++i) data[i] = ggml_fp32_to_fp16(value());
  } else {
    auto* data = static_cast<float*>(tensor->data);
    for (int64_t i = 0; i < n; ++i) data[i] = value();
  }
}

Result<GgufPtr> LoadVocabulary(const fs::path& vocab_file, int64_t* n_vocab) {
  std::error_code ec;
  if (!fs::is_regular_file(vocab_file, ec)) return NotFound("no vocabulary file " + vocab_file.string());
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  GgufPtr vocab(gguf_init_from_file(vocab_file.c_str(), params), gguf_free);
  if (!vocab) return InvalidArgument(vocab_file.string() + " is not a GGUF file");
  int64_t tokens = gguf_find_key(vocab.get(), "tokenizer.ggml.tokens");
  if (tokens < 0) return InvalidArgument(vocab_file.string() + " has no tokenizer.ggml.tokens");
  *n_vocab = static_cast<int64_t>(gguf_get_arr_n(vocab.get(), tokens));
  return vocab;
}

}  // namespace

SyntheticModelSpec SyntheticModelSpec::TinyBert(fs::path vocab) {
  SyntheticModelSpec s;
  s.architecture = "bert";
  s.vocab_file = std::move(vocab);
  s.name = "cloister-tiny-bert";
  return s;
}

SyntheticModelSpec SyntheticModelSpec::TinyLlama(fs::path vocab) {
  SyntheticModelSpec s;
  s.architecture = "llama";
  s.vocab_file = std::move(vocab);
  s.name = "cloister-tiny-llama";
  s.n_head_kv = 2;
  return s;
}

SyntheticModelSpec SyntheticModelSpec::BgeSmallShape(fs::path vocab) {
  SyntheticModelSpec s = TinyBert(std::move(vocab));
  s.name = "random-bge-small-en-v1.5-shape";
  s.n_ctx = 512;
  s.n_embd = 384;
  s.n_layer = 12;
  s.n_head = 12;
  s.n_ff = 1536;
  s.f16_weights = true;
  return s;
}

SyntheticModelSpec SyntheticModelSpec::Qwen25HalfBShape(fs::path vocab) {
  SyntheticModelSpec s;
  s.architecture = "qwen2";
  s.vocab_file = std::move(vocab);
  s.name = "random-qwen2.5-0.5b-shape";
  s.n_ctx = 32768;
  s.n_embd = 896;
  s.n_layer = 24;
  s.n_head = 14;
  s.n_head_kv = 2;
  s.n_ff = 4864;
  s.f16_weights = true;
  return s;
}

SyntheticModelSpec SyntheticModelSpec::Qwen25OneAndHalfBShape(fs::path vocab) {
  SyntheticModelSpec s = Qwen25HalfBShape(std::move(vocab));
  s.name = "random-qwen2.5-1.5b-shape";
  s.n_embd = 1536;
  s.n_layer = 28;
  s.n_head = 12;
  s.n_head_kv = 2;
  s.n_ff = 8960;
  return s;
}

Status WriteSyntheticModel(const SyntheticModelSpec& spec, const fs::path& out) {
  CLOISTER_RETURN_IF_ERROR(ValidateSpec(spec));
  int64_t n_vocab = 0;
  CLOISTER_ASSIGN_OR_RETURN(GgufPtr vocab, LoadVocabulary(spec.vocab_file, &n_vocab));

  GgufPtr gguf(gguf_init_empty(), gguf_free);
  gguf_set_kv(gguf.get(), vocab.get());  // tokenizer.* keys; our own keys below take precedence
  SetHyperparameters(gguf.get(), spec);

  std::vector<TensorDef> defs = spec.architecture == "bert" ? BertTensors(spec, n_vocab)
                                                             : DecoderTensors(spec, n_vocab);
  size_t bytes = 0;
  for (const auto& d : defs) {
    size_t elem = spec.f16_weights && d.ne1 > 0 && !d.always_f32 ? 2 : 4;
    bytes += static_cast<size_t>(d.ne0) * static_cast<size_t>(d.ne1 > 0 ? d.ne1 : 1) * elem;
  }
  ggml_init_params params{bytes + defs.size() * (ggml_tensor_overhead() + 64), nullptr, false};
  GgmlPtr ctx(ggml_init(params), ggml_free);
  if (!ctx) return Internal("cannot allocate " + std::to_string(bytes) + " bytes for model tensors");

  std::mt19937_64 rng(spec.seed);
  for (const auto& d : defs) {
    ggml_type type = spec.f16_weights && d.ne1 > 0 && !d.always_f32 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    ggml_tensor* t = d.ne1 > 0 ? ggml_new_tensor_2d(ctx.get(), type, d.ne0, d.ne1)
                               : ggml_new_tensor_1d(ctx.get(), type, d.ne0);
    ggml_set_name(t, d.name.c_str());
    Fill(t, d.init, rng, spec.stddev);
    gguf_add_tensor(gguf.get(), t);
  }
  std::error_code ec;
  fs::remove(out, ec);
  if (!gguf_write_to_file(gguf.get(), out.c_str(), /*only_meta=*/false)) {
    return Internal("cannot write model file " + out.string());
  }
  return Status::Ok();
}

Status QuantizeModel(const fs::path& in, const fs::path& out, const std::string& type) {
  static const std::map<std::string, llama_ftype> kTypes = {
      {"F16", LLAMA_FTYPE_MOSTLY_F16},       {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
      {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S},
      {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M},
      {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K}};
  auto it = kTypes.find(type);
  if (it == kTypes.end()) {
    return InvalidArgument("unknown quantization '" + type + "' (F16, Q8_0, Q4_0, Q4_K_S, "
                           "Q4_K_M, Q5_K_M, Q6_K)");
  }
  InitBackend();
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = it->second;
  params.nthread = DefaultThreads();
  if (llama_model_quantize(in.c_str(), out.c_str(), &params) != 0) {
    return Internal("llama.cpp failed to quantize " + in.string() + " to " + type);
  }
  return Status::Ok();
}

}  // namespace cloister::llm
