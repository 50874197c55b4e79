// Random-weight GGUF models of a chosen shape, for tests and benchmarks.
//
//   SyntheticModelSpec spec = SyntheticModelSpec::TinyBert(vocab_dir / "ggml-vocab-bert-bge.gguf");
//   CLOISTER_RETURN_IF_ERROR(WriteSyntheticModel(spec, tmp / "tiny-bert.gguf"));
//   CLOISTER_RETURN_IF_ERROR(QuantizeModel(tmp / "tiny-bert.gguf", tmp / "tiny-bert-q8.gguf", "Q8_0"));
//
// The tokenizer comes from one of llama.cpp's `models/ggml-vocab-*.gguf` files, so tokenisation
// is the real one; only the weights are random. The file is written with ggml's gguf API rather
// than llama_model_save_to_file, which drops token_embd.weight for models without a separate
// output tensor (BERT) in llama.cpp v0.5.0 (DESIGN.md). Same shape means same cost per token as
// the real model, which is what benchmarks need.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "cloister/core/status.h"

namespace cloister::llm {

struct SyntheticModelSpec {
  std::string architecture = "bert";  // "bert" (encoder, embeddings), "llama" or "qwen2" (decoders)
  std::filesystem::path vocab_file;   // llama.cpp models/ggml-vocab-*.gguf matching the family
  std::string name = "cloister-synthetic";
  uint32_t n_ctx = 512;       // context_length (BERT: position embeddings)
  uint32_t n_embd = 64;
  uint32_t n_layer = 2;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 4;     // decoders only (GQA when < n_head)
  uint32_t n_ff = 128;
  bool f16_weights = false;   // 2-D weights as F16 (halves the file; quantize from it)
  uint64_t seed = 42;
  float stddev = 0.02f;       // normal init of weights; norms start at 1, biases at 0

  // A BERT embedding model (mean pooling) small enough for unit tests.
  static SyntheticModelSpec TinyBert(std::filesystem::path vocab);
  // A llama-architecture chat model small enough for unit tests.
  static SyntheticModelSpec TinyLlama(std::filesystem::path vocab);
  // bge-small-en-v1.5's shape: 12 layers, hidden 384, 12 heads, FFN 1536, 512 positions.
  static SyntheticModelSpec BgeSmallShape(std::filesystem::path vocab);
  // Qwen2.5-0.5B's shape: 24 layers, hidden 896, 14 heads (2 KV), FFN 4864, tied embeddings.
  static SyntheticModelSpec Qwen25HalfBShape(std::filesystem::path vocab);
  // Qwen2.5-1.5B's shape: 28 layers, hidden 1536, 12 heads (2 KV), FFN 8960, tied embeddings.
  static SyntheticModelSpec Qwen25OneAndHalfBShape(std::filesystem::path vocab);
};

// Writes the model to `out` (replacing it). kInvalidArgument for an unknown architecture or
// inconsistent shape (n_embd not divisible by n_head, ...); kNotFound / kInvalidArgument when
// the vocabulary file is missing or not GGUF; kInternal when the file cannot be written.
Status WriteSyntheticModel(const SyntheticModelSpec& spec, const std::filesystem::path& out);

// Quantizes `in` into `out` with llama.cpp ("Q8_0", "Q4_K_M", "Q4_0", "F16", ...), using every
// core. kInvalidArgument for an unknown type name; kInternal when llama.cpp fails.
Status QuantizeModel(const std::filesystem::path& in, const std::filesystem::path& out,
                     const std::string& type);

}  // namespace cloister::llm
