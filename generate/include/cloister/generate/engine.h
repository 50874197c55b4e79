// Answers from a local GGUF chat model: one loaded model, several requests decoded together.
//
//   auto engine = generate::Engine::Open("models/qwen2.5-1.5b-instruct-q4_k_m.gguf", {});
//   generate::Request req;
//   req.messages = {{"system", "Answer only from the numbered sources."}, {"user", question}};
//   auto out = (*engine)->Generate(req, [](std::string_view piece) { Send(piece); return true; });
//   if (!out.ok() && out.status().code() == StatusCode::kUnavailable) { /* busy: 503 */ }
//
// Scheduling: `slots` requests run at once in one llama.cpp context, one sequence each. A scheduler
// thread runs the decode loop: every step is one llama_decode holding the next token of each
// generating slot plus prompt chunks of newly admitted requests (at most `batch_tokens` tokens per
// step, so a long prompt delays the others by one chunk at a time, not by its whole length).
// Requests beyond the slots wait in a bounded FIFO queue and join between steps; past the queue,
// Generate refuses at once with kUnavailable. The leading system message of a chat (or the
// declared prefix of a raw prompt) is decoded once into a reserved sequence and copied into each
// slot that starts with the same tokens, so the fixed system prompt costs nothing per request.
//
// Streaming: the scheduler never calls the callback. It queues the text for the caller's thread,
// which Generate blocks and uses to run the callback, so a slow client slows only its own
// request: after 64 undelivered pieces its slot pauses (keeping its place) until the callback
// catches up.
//
// Thread safety: every method may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/core/status.h"

namespace cloister::generate {

struct EngineOptions {
  uint32_t slots = 4;              // requests decoded together (1..128)
  uint32_t queue = 16;             // requests waiting for a slot; past it Generate is kUnavailable
  uint32_t context_tokens = 4096;  // per slot: prompt + answer; capped at the model's trained
                                   // context
  uint32_t batch_tokens = 512;     // tokens per decode step (generating slots + prompt chunks);
                                   // at least slots + 1
  int threads = 0;                 // 0: llm::DefaultThreads() (every core, or CLOISTER_THREADS)
  // One KV buffer shared by all sequences (as llama-server does with automatic slots): the cached
  // system prompt is shared rather than copied, and a step with any mix of slots is one batch.
  // false gives each slot its own buffer (attention only over its own tokens, which is cheaper
  // with long unrelated prompts), but llama.cpp then splits a step whenever the busy slots are
  // not consecutive, and each prefix-cache hit copies a whole buffer.
  // With it, llama.cpp takes the whole pool, (slots + 1) x context_tokens, for one sequence's
  // context: it logs "n_ctx_seq > n_ctx_train" when the pool exceeds the trained context (harmless:
  // each request stays within context_tokens), and a LongRoPE model (Phi-3) uses its long-context
  // factors once the pool passes its original context.
  bool kv_unified = true;
};

// Per-request settings. Defaults suit answers from sources: greedy (deterministic, no invented
// variety); the other samplers act only when temperature > 0.
struct GenerateOptions {
  uint32_t max_tokens = 256;  // answer length at most; also ends when the slot's context fills
  float temperature = 0.0f;   // 0: greedy
  int32_t top_k = 40;         // 0: off
  float top_p = 0.95f;        // 1: off
  float min_p = 0.05f;        // 0: off
  // 1: off. Off by default because a cited answer repeats names and figures from its sources on
  // purpose. Penalises the last `repeat_last_n` generated tokens (not the prompt), greedy or not.
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  uint32_t seed = 42;  // with temperature > 0, the same seed gives the same answer
  // Generation ends before the first occurrence of any of these; no part of it is ever emitted
  // (text that could be the start of one is held back until it cannot).
  std::vector<std::string> stop;
  bool ignore_eos = false;  // run to max_tokens past end-of-text (benchmarks)
};

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct Request {
  // A chat, rendered with the model's chat template (see Engine::chat_template) and an opened
  // assistant turn. Text in a message that spells one of the model's special tokens (e.g.
  // "<|im_end|>") is broken with a zero-width space, so content cannot close its turn.
  std::vector<ChatMessage> messages;
  // Used when `messages` is empty: raw text continued as is (special tokens parsed, BOS added
  // when the model wants one).
  std::string prompt;
  // Raw prompts: the first `shared_prefix_bytes` bytes are shared by many requests and worth
  // caching. Chats: the leading system message is the shared prefix (no need to set this).
  size_t shared_prefix_bytes = 0;
  bool use_prefix_cache = true;  // false: decode the whole prompt (same result, more work)
  GenerateOptions options;
  // Requesting a stop cancels: a queued request leaves the queue at once, a running one frees its
  // slot and KV at the next decode step.
  std::stop_token cancel;
};

enum class StopReason {
  kEndOfText,    // the model ended its answer
  kMaxTokens,    // max_tokens reached
  kStopString,   // one of options.stop appeared (it is not part of text)
  kContextFull,  // the slot's context_tokens filled up
  kCancelled,    // callback returned false or `cancel` was requested
};

struct Generation {
  std::string text;  // exactly the concatenation of the pieces streamed
  uint32_t prompt_tokens = 0;
  uint32_t cached_prompt_tokens = 0;  // of prompt_tokens, taken from the prefix cache
  uint32_t generated_tokens = 0;      // sampled by the model (past a cancel, maybe more than
                                      // the text shows)
  StopReason stop = StopReason::kEndOfText;
  double queue_seconds = 0;        // from Generate to a slot
  double first_token_seconds = 0;  // from Generate to the first answer token sampled
  double total_seconds = 0;        // from Generate to the end
};

// Receives the answer's text in order, piece by piece (usually one token each), on the thread that
// called Generate. Returning false cancels the request; the callback is not called again.
using TokenCallback = std::function<bool(std::string_view piece)>;

struct EngineStats {
  uint32_t slots = 0;
  uint32_t busy_slots = 0;
  uint32_t queued = 0;
  uint64_t completed = 0;             // requests that ended, whatever the reason
  uint64_t refused = 0;               // kUnavailable because slots and queue were full
  uint64_t prompt_tokens = 0;         // prompt tokens decoded
  uint64_t cached_prompt_tokens = 0;  // prompt tokens copied from the prefix cache instead
  uint64_t generated_tokens = 0;
  double busy_seconds = 0;       // wall time of decode steps
  double tokens_per_second = 0;  // generated_tokens / time with at least one slot generating
};

class Engine {
 public:
  // kNotFound if the file is missing; kInvalidArgument for options out of range;
  // kFailedPrecondition if llama.cpp cannot load the model or make a context that large.
  static Result<std::unique_ptr<Engine>> Open(const std::filesystem::path& model,
                                              const EngineOptions& options = {});
  // Stops the scheduler. No Generate call may still be running (stop the callers first).
  virtual ~Engine() = default;

  // Runs `request` to its end, blocking the calling thread, which also runs `on_token`.
  // kUnavailable when every slot is busy and the queue is full (retry later), or when the engine
  // is shutting down; kInvalidArgument when the prompt is empty or leaves no room for an answer
  // in context_tokens(); kInternal when llama.cpp fails to decode. A cancelled request is not an
  // error: it returns what was streamed with StopReason::kCancelled.
  virtual Result<Generation> Generate(const Request& request,
                                      const TokenCallback& on_token = {}) = 0;

  // The prompt text a chat turns into: the model's template, or the fallback (chat_template()).
  virtual Result<std::string> ApplyChatTemplate(const std::vector<ChatMessage>& messages,
                                                bool add_assistant = true) const = 0;
  // Tokens `text` takes inside a message (no BOS, special-token text not parsed): for fitting
  // passages into the context budget.
  virtual uint32_t CountTokens(std::string_view text) const = 0;
  // Prompt plus answer tokens one request may use.
  virtual uint32_t context_tokens() const = 0;
  // The template in use: the model's own (tokenizer.chat_template) when llama.cpp recognises it,
  // else "chatml"; with the fallback, "<|im_end|>" is added to a chat's stop strings.
  virtual const std::string& chat_template() const = 0;
  virtual bool chat_template_is_fallback() const = 0;
  virtual EngineStats Stats() const = 0;
};

// Applies one of llama.cpp's built-in templates, named ("chatml", "llama3", "phi3", ...) or given
// as a Jinja text it recognises. kInvalidArgument if llama.cpp does not know the template.
Result<std::string> ApplyChatTemplate(const std::string& tmpl,
                                      const std::vector<ChatMessage>& messages,
                                      bool add_assistant = true);

}  // namespace cloister::generate
