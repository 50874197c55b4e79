// Text generation from a local GGUF chat model, run by llama.cpp.
//
//   auto gen = generate::Generator::Open("models/qwen2.5-1.5b-instruct-q4_k_m.gguf", {});
//   GenerateOptions opt;
//   opt.max_tokens = 64;
//   auto out = (*gen)->Generate("Once upon a time", opt,
//                               [](std::string_view piece) { std::cout << piece; return true; });
//
// Thread safety: one Generate call at a time per Generator (calls are serialised internally).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cloister/core/status.h"

namespace cloister::generate {

struct GeneratorOptions {
  uint32_t context_tokens = 2048;  // capped at the model's trained context
  int threads = 0;                 // 0: every core (CLOISTER_THREADS overrides)
};

struct GenerateOptions {
  uint32_t max_tokens = 256;
  float temperature = 0.0f;  // 0: greedy (deterministic)
  uint32_t seed = 42;        // used when temperature > 0
};

enum class StopReason { kEndOfText, kMaxTokens, kCancelled };

struct Generation {
  std::string text;
  uint32_t prompt_tokens = 0;
  uint32_t generated_tokens = 0;
  StopReason stop = StopReason::kEndOfText;
};

// Receives each decoded piece of text as it is produced; returning false cancels generation.
using TokenCallback = std::function<bool(std::string_view piece)>;

class Generator {
 public:
  // kNotFound if the file is missing; kFailedPrecondition if llama.cpp cannot load it.
  static Result<std::unique_ptr<Generator>> Open(const std::filesystem::path& model,
                                                 const GeneratorOptions& options);
  virtual ~Generator() = default;

  // Continues `prompt` (raw text, the model's BOS added when it wants one). kInvalidArgument if
  // the prompt leaves no room in the context for a single token; kInternal if decoding fails.
  virtual Result<Generation> Generate(std::string_view prompt, const GenerateOptions& options,
                                      const TokenCallback& on_token = {}) = 0;
};

}  // namespace cloister::generate
