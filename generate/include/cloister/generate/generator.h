// One request at a time over a GGUF chat model: the Engine (engine.h) with a single slot.
//
//   auto gen = generate::Generator::Open("models/qwen2.5-1.5b-instruct-q4_k_m.gguf", {});
//   GenerateOptions opt;
//   opt.max_tokens = 64;
//   auto out = (*gen)->Generate("Once upon a time", opt,
//                               [](std::string_view piece) { std::cout << piece; return true; });
//
// Kept for callers that continue raw text one request at a time; new code uses Engine, which
// serves several requests together and applies the chat template.
// Thread safety: concurrent Generate calls wait their turn (up to 64 waiting; past that they are
// kUnavailable).
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "cloister/core/status.h"
#include "cloister/generate/engine.h"

namespace cloister::generate {

struct GeneratorOptions {
  uint32_t context_tokens = 2048;  // capped at the model's trained context
  int threads = 0;                 // 0: every core (CLOISTER_THREADS overrides)
};

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
