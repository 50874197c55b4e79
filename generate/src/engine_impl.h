// The Engine behind engine.h: caller side in engine.cpp, the decode loop in scheduler.cpp.
// Private to generate/.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cloister/generate/engine.h"
#include "llama.h"
#include "llama_text.h"
#include "text_stream.h"

namespace cloister::generate {

using Clock = std::chrono::steady_clock;

// One request, shared by the thread that called Generate and the scheduler.
struct Job {
  // Set before the job is queued, then read-only.
  std::vector<llama_token> tokens;  // the whole prompt
  size_t prefix = 0;                // leading tokens the prefix cache may supply (0: none)
  GenerateOptions options;
  Clock::time_point submitted;
  // Guarded by EngineImpl::mu_.
  std::deque<std::string> pieces;  // text produced, not yet taken by the caller
  bool cancel = false;             // the caller asks the scheduler to drop it
  bool done = false;
  Status error;
  Generation result;  // everything but text, which the caller assembles
  std::condition_variable cv;
};

enum class Phase { kFree, kWaitPrefix, kPrompt, kGenerate };

// One sequence of the context. Touched only by the scheduler thread (under mu_ where it meets a
// Job's shared fields).
struct Slot {
  llama_seq_id seq = 0;
  std::shared_ptr<Job> job;
  Phase phase = Phase::kFree;
  uint64_t admitted = 0;   // admission order: earlier prompts get the step's budget first
  size_t fed = 0;          // prompt tokens in the KV cache
  size_t feeding = 0;      // prompt tokens in the current step's batch
  uint32_t generated = 0;  // tokens sampled
  llama_token next = 0;    // the last sampled token, fed at the next step
  int32_t output = -1;     // batch index of this slot's logits in the current step, -1: none
  SamplerPtr sampler;
  TextStream text;
};

// The shared prefix (system prompt) kept in the reserved sequence.
struct PrefixCache {
  std::vector<llama_token> tokens;
  size_t fed = 0;
  size_t feeding = 0;
  bool filling() const { return fed < tokens.size(); }
  bool ready() const { return !tokens.empty() && fed == tokens.size(); }
};

class EngineImpl final : public Engine {
 public:
  EngineImpl(ModelPtr model, ContextPtr ctx, const EngineOptions& options, uint32_t slot_context,
             std::string chat_template, bool fallback);
  ~EngineImpl() override;

  Result<Generation> Generate(const Request& request, const TokenCallback& on_token) override;
  Result<std::string> ApplyChatTemplate(const std::vector<ChatMessage>& messages,
                                        bool add_assistant) const override;
  uint32_t CountTokens(std::string_view text) const override;
  uint32_t context_tokens() const override { return slot_context_; }
  const std::string& chat_template() const override { return template_; }
  bool chat_template_is_fallback() const override { return fallback_; }
  EngineStats Stats() const override;

 private:
  // Caller side (engine.cpp).
  Result<std::shared_ptr<Job>> Prepare(const Request& request) const;
  Result<std::vector<llama_token>> ChatTokens(const std::vector<ChatMessage>& messages,
                                              bool add_assistant) const;
  Status Enqueue(const std::shared_ptr<Job>& job);
  void Cancel(const std::shared_ptr<Job>& job);
  Result<Generation> Await(const std::shared_ptr<Job>& job, const TokenCallback& on_token);
  void Wake();  // under mu_

  // Scheduler (scheduler.cpp), all under mu_ unless noted.
  void Run();
  void ReapCancelled();
  void Admit();
  void StartPrompt(Slot& slot);
  void CopyPrefix(Slot& slot);
  bool BuildBatch();
  void AddToken(llama_token token, llama_pos pos, llama_seq_id seq, bool logits);
  void SampleOutputs(std::vector<llama_token>& sampled);  // without mu_
  void ApplyStep(const std::vector<llama_token>& sampled);
  void Accept(Slot& slot, llama_token token);
  void Emit(Slot& slot, std::string text);
  void Finish(Slot& slot, StopReason reason);
  void Fail(Slot& slot, const Status& error);
  void FailStep(int32_t rc);
  void Shutdown();

  ModelPtr model_;
  ContextPtr ctx_;
  const llama_vocab* vocab_;
  llama_memory_t memory_;
  const EngineOptions options_;
  const uint32_t slot_context_;
  const llama_seq_id cache_seq_;  // the reserved sequence of the prefix cache: after the slots
  const std::string template_;
  const bool fallback_;
  const std::vector<std::string> specials_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the scheduler waits here when there is nothing to decode
  bool wake_ = false;
  bool stopping_ = false;
  std::deque<std::shared_ptr<Job>> queue_;
  uint32_t busy_ = 0;
  uint64_t admissions_ = 0;
  EngineStats stats_;
  double generating_seconds_ = 0;

  // Scheduler-only state.
  std::vector<Slot> slots_;
  PrefixCache cache_;
  llama_batch batch_;
  std::thread scheduler_;
};

}  // namespace cloister::generate
