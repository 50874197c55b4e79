#include "cloister/generate/generator.h"

#include <algorithm>
#include <mutex>
#include <system_error>
#include <vector>

#include "cloister/llm/runtime.h"
#include "llama.h"

namespace cloister::generate {
namespace {

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

SamplerPtr MakeSampler(const GenerateOptions& o) {
  SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (o.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
  } else {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(o.temperature));
    llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(o.seed));
  }
  return chain;
}

class LlamaGenerator final : public Generator {
 public:
  LlamaGenerator(ModelPtr model, ContextPtr ctx)
      : model_(std::move(model)), ctx_(std::move(ctx)), vocab_(llama_model_get_vocab(model_.get())) {}

  Result<Generation> Generate(std::string_view prompt, const GenerateOptions& options,
                              const TokenCallback& on_token) override {
    std::lock_guard lock(mu_);
    std::vector<llama_token> tokens = Tokenize(prompt);
    const uint32_t n_ctx = llama_n_ctx(ctx_.get());
    if (tokens.empty() || tokens.size() >= n_ctx) {
      return InvalidArgument("prompt of " + std::to_string(tokens.size()) +
                             " tokens does not fit the context of " + std::to_string(n_ctx));
    }
    llama_memory_clear(llama_get_memory(ctx_.get()), true);
    SamplerPtr sampler = MakeSampler(options);
    Generation out;
    out.prompt_tokens = static_cast<uint32_t>(tokens.size());
    out.stop = StopReason::kMaxTokens;
    llama_batch batch = llama_batch_get_one(tokens.data(), static_cast<int32_t>(tokens.size()));
    uint32_t budget = std::min<uint32_t>(options.max_tokens, n_ctx - out.prompt_tokens);
    llama_token next = 0;
    while (out.generated_tokens < budget) {
      if (llama_decode(ctx_.get(), batch) != 0) return Internal("llama.cpp failed to decode");
      next = llama_sampler_sample(sampler.get(), ctx_.get(), -1);
      if (llama_vocab_is_eog(vocab_, next)) {
        out.stop = StopReason::kEndOfText;
        break;
      }
      ++out.generated_tokens;
      std::string piece = Piece(next);
      out.text += piece;
      if (on_token && !on_token(piece)) {
        out.stop = StopReason::kCancelled;
        break;
      }
      batch = llama_batch_get_one(&next, 1);
    }
    return out;
  }

 private:
  std::vector<llama_token> Tokenize(std::string_view text) {
    int32_t len = static_cast<int32_t>(std::min<size_t>(text.size(), INT32_MAX / 2));
    std::vector<llama_token> toks(static_cast<size_t>(len) + 4);
    int32_t n = llama_tokenize(vocab_, text.data(), len, toks.data(), static_cast<int32_t>(toks.size()),
                               /*add_special=*/true, /*parse_special=*/true);
    if (n < 0) {
      toks.resize(static_cast<size_t>(-n));
      n = llama_tokenize(vocab_, text.data(), len, toks.data(), static_cast<int32_t>(toks.size()),
                         true, true);
    }
    toks.resize(static_cast<size_t>(std::max(n, 0)));
    return toks;
  }

  std::string Piece(llama_token token) {
    char buf[256];
    int32_t n = llama_token_to_piece(vocab_, token, buf, sizeof buf, 0, /*special=*/false);
    if (n < 0) {
      std::string big(static_cast<size_t>(-n), '\0');
      n = llama_token_to_piece(vocab_, token, big.data(), -n, 0, false);
      big.resize(static_cast<size_t>(std::max(n, 0)));
      return big;
    }
    return std::string(buf, static_cast<size_t>(n));
  }

  ModelPtr model_;
  ContextPtr ctx_;
  const llama_vocab* vocab_;
  std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<Generator>> Generator::Open(const std::filesystem::path& path,
                                                   const GeneratorOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return NotFound("no model file " + path.string());
  llm::InitBackend();
  ModelPtr model(llama_model_load_from_file(path.c_str(), llama_model_default_params()));
  if (!model) return FailedPrecondition("llama.cpp could not load chat model " + path.string());
  llama_context_params p = llama_context_default_params();
  uint32_t n_train = static_cast<uint32_t>(std::max(1, llama_model_n_ctx_train(model.get())));
  p.n_ctx = std::min(std::max<uint32_t>(options.context_tokens, 16), n_train);
  p.n_batch = p.n_ctx;
  p.n_threads = p.n_threads_batch = options.threads > 0 ? options.threads : llm::DefaultThreads();
  p.no_perf = true;
  ContextPtr ctx(llama_init_from_model(model.get(), p));
  if (!ctx) return FailedPrecondition("llama.cpp could not create a context for " + path.string());
  return std::unique_ptr<Generator>(new LlamaGenerator(std::move(model), std::move(ctx)));
}

}  // namespace cloister::generate
