// Text <-> tokens and chat templates over llama.cpp's vocabulary. Private to generate/.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/generate/engine.h"
#include "llama.h"

namespace cloister::generate {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// llama_tokenize, growing the buffer as needed. Thread-safe (the vocabulary is read-only).
std::vector<llama_token> Tokenize(const llama_vocab* vocab, std::string_view text, bool add_special,
                                  bool parse_special);
// The text of one token as it appears in the answer (special tokens rendered as empty).
std::string Piece(const llama_vocab* vocab, llama_token token);

// The texts of the vocabulary's control and user-defined tokens ("<|im_end|>", "<s>", ...), the
// ones llama_tokenize turns into special tokens when it parses specials.
std::vector<std::string> SpecialTokenTexts(const llama_vocab* vocab);
// `text` with every occurrence of those texts broken by a zero-width space after its first byte.
std::string BreakSpecialTokens(std::string text, const std::vector<std::string>& specials);

// llama_chat_apply_template. kInvalidArgument when llama.cpp does not recognise `tmpl`.
Result<std::string> RenderChat(const std::string& tmpl, const std::vector<ChatMessage>& messages,
                               bool add_assistant);

// The sampler chain for `options`: penalties, then greedy, or top-k, top-p, min-p, temperature and
// a seeded draw.
SamplerPtr MakeSampler(const llama_vocab* vocab, const GenerateOptions& options);

}  // namespace cloister::generate
