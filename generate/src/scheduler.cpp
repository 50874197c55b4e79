// The decode loop: one llama_decode per step for every busy slot, new requests joining between
// steps. Everything here runs on the scheduler thread; mu_ is held except around llama_decode and
// sampling, so callers can queue, cancel and read text meanwhile.
#include <algorithm>

#include "engine_impl.h"

namespace cloister::generate {
namespace {

// Pieces a slot may produce ahead of its reader before it pauses.
constexpr size_t kMaxUndelivered = 64;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

void EngineImpl::Run() {
  std::unique_lock lock(mu_);
  std::vector<llama_token> sampled(slots_.size());
  while (!stopping_) {
    ReapCancelled();
    Admit();
    if (!BuildBatch()) {
      work_cv_.wait(lock, [&] { return stopping_ || wake_; });
      wake_ = false;
      continue;
    }
    lock.unlock();
    auto start = Clock::now();
    int32_t rc = llama_decode(ctx_.get(), batch_);
    if (rc == 0) SampleOutputs(sampled);
    double seconds = Since(start);
    lock.lock();
    stats_.busy_seconds += seconds;
    if (rc != 0) {
      FailStep(rc);
      continue;
    }
    bool generating = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) {
      return s.phase == Phase::kGenerate && s.output >= 0;
    });
    if (generating) generating_seconds_ += seconds;
    ApplyStep(sampled);
  }
  Shutdown();
}

void EngineImpl::ReapCancelled() {
  for (auto& slot : slots_) {
    if (slot.job && slot.job->cancel) Finish(slot, StopReason::kCancelled);
  }
}

void EngineImpl::Admit() {
  for (auto& slot : slots_) {
    if (queue_.empty()) return;
    if (slot.job) continue;
    slot.job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    Job& job = *slot.job;
    job.result.queue_seconds = std::chrono::duration<double>(Clock::now() - job.submitted).count();
    slot.admitted = ++admissions_;
    slot.fed = slot.feeding = 0;
    slot.generated = 0;
    slot.sampler = MakeSampler(vocab_, job.options);
    slot.text = TextStream(job.options.stop);
    StartPrompt(slot);
  }
}

// Takes the prompt's prefix from the cache when it holds (or is filling with) the same tokens;
// otherwise refills the cache when no other slot waits on it, or decodes the whole prompt.
void EngineImpl::StartPrompt(Slot& slot) {
  slot.phase = Phase::kPrompt;
  const Job& job = *slot.job;
  if (job.prefix == 0) return;
  auto prefix_begin = job.tokens.begin(), prefix_end = prefix_begin + job.prefix;
  bool same = std::equal(prefix_begin, prefix_end, cache_.tokens.begin(), cache_.tokens.end());
  if (same && cache_.ready()) return CopyPrefix(slot);
  if (same) {
    slot.phase = Phase::kWaitPrefix;
    return;
  }
  bool awaited = std::any_of(slots_.begin(), slots_.end(),
                             [](const Slot& s) { return s.phase == Phase::kWaitPrefix; });
  if (cache_.filling() && awaited) return;
  llama_memory_seq_rm(memory_, cache_seq_, -1, -1);
  cache_.tokens.assign(prefix_begin, prefix_end);
  cache_.fed = cache_.feeding = 0;
  slot.phase = Phase::kWaitPrefix;
}

void EngineImpl::CopyPrefix(Slot& slot) {
  llama_memory_seq_cp(memory_, cache_seq_, slot.seq, -1, -1);
  slot.fed = cache_.tokens.size();
  slot.phase = Phase::kPrompt;
  slot.job->result.cached_prompt_tokens = static_cast<uint32_t>(slot.fed);
  stats_.cached_prompt_tokens += slot.fed;
}

void EngineImpl::AddToken(llama_token token, llama_pos pos, llama_seq_id seq, bool logits) {
  int32_t i = batch_.n_tokens++;
  batch_.token[i] = token;
  batch_.pos[i] = pos;
  batch_.n_seq_id[i] = 1;
  batch_.seq_id[i][0] = seq;
  batch_.logits[i] = logits;
}

// The step's batch: each generating slot's next token (unless its reader is far behind), then the
// prefix cache's next chunk, then prompt chunks, earliest admitted first, up to batch_tokens.
bool EngineImpl::BuildBatch() {
  batch_.n_tokens = 0;
  for (auto& slot : slots_) {
    slot.output = -1;
    slot.feeding = 0;
    if (slot.phase != Phase::kGenerate || slot.job->pieces.size() >= kMaxUndelivered) continue;
    slot.output = batch_.n_tokens;
    auto pos = static_cast<llama_pos>(slot.job->tokens.size() + slot.generated - 1);
    AddToken(slot.next, pos, slot.seq, true);
  }
  size_t budget = options_.batch_tokens - static_cast<size_t>(batch_.n_tokens);
  cache_.feeding = std::min(budget, cache_.tokens.size() - cache_.fed);
  for (size_t i = 0; i < cache_.feeding; ++i) {
    size_t at = cache_.fed + i;
    AddToken(cache_.tokens[at], static_cast<llama_pos>(at), cache_seq_, false);
  }
  budget -= cache_.feeding;
  std::vector<Slot*> prompts;
  for (auto& slot : slots_) {
    if (slot.phase == Phase::kPrompt) prompts.push_back(&slot);
  }
  std::sort(prompts.begin(), prompts.end(),
            [](const Slot* a, const Slot* b) { return a->admitted < b->admitted; });
  for (Slot* slot : prompts) {
    const auto& tokens = slot->job->tokens;
    slot->feeding = std::min(budget, tokens.size() - slot->fed);
    budget -= slot->feeding;
    for (size_t i = 0; i < slot->feeding; ++i) {
      size_t at = slot->fed + i;
      bool last = at + 1 == tokens.size();
      if (last) slot->output = batch_.n_tokens;
      AddToken(tokens[at], static_cast<llama_pos>(at), slot->seq, last);
    }
  }
  return batch_.n_tokens > 0;
}

void EngineImpl::SampleOutputs(std::vector<llama_token>& sampled) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (slot.output >= 0)
      sampled[i] = llama_sampler_sample(slot.sampler.get(), ctx_.get(), slot.output);
  }
}

void EngineImpl::ApplyStep(const std::vector<llama_token>& sampled) {
  cache_.fed += cache_.feeding;
  cache_.feeding = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (!slot.job) continue;
    slot.fed += slot.feeding;
    stats_.prompt_tokens += slot.feeding;
    if (slot.phase == Phase::kWaitPrefix && cache_.ready()) CopyPrefix(slot);
    if (slot.output < 0) continue;
    if (slot.job->cancel) {
      Finish(slot, StopReason::kCancelled);
      continue;
    }
    Accept(slot, sampled[i]);
  }
}

void EngineImpl::Accept(Slot& slot, llama_token token) {
  Job& job = *slot.job;
  if (slot.phase == Phase::kPrompt) {
    slot.phase = Phase::kGenerate;
    job.result.first_token_seconds = Since(job.submitted);
  }
  if (slot.generated >= job.options.max_tokens) return Finish(slot, StopReason::kMaxTokens);
  bool eog = llama_vocab_is_eog(vocab_, token);
  if (eog && !job.options.ignore_eos) return Finish(slot, StopReason::kEndOfText);
  ++slot.generated;
  ++stats_.generated_tokens;
  slot.next = token;
  Emit(slot, slot.text.Push(Piece(vocab_, token)));
  if (slot.text.stopped()) return Finish(slot, StopReason::kStopString);
  if (slot.generated >= job.options.max_tokens) return Finish(slot, StopReason::kMaxTokens);
  if (job.tokens.size() + slot.generated >= slot_context_) {
    return Finish(slot, StopReason::kContextFull);
  }
}

void EngineImpl::Emit(Slot& slot, std::string text) {
  if (text.empty()) return;
  slot.job->pieces.push_back(std::move(text));
  slot.job->cv.notify_all();
}

// Ends the slot's request and frees its sequence for the next one.
void EngineImpl::Finish(Slot& slot, StopReason reason) {
  Job& job = *slot.job;
  if (reason != StopReason::kCancelled && reason != StopReason::kStopString) {
    Emit(slot, slot.text.Flush());
  }
  job.result.stop = reason;
  job.result.generated_tokens = slot.generated;
  job.result.total_seconds = Since(job.submitted);
  job.done = true;
  job.cv.notify_all();
  llama_memory_seq_rm(memory_, slot.seq, -1, -1);
  slot.job.reset();
  slot.sampler.reset();
  slot.phase = Phase::kFree;
  slot.output = -1;
  --busy_;
  ++stats_.completed;
}

void EngineImpl::Fail(Slot& slot, const Status& error) {
  slot.job->error = error;
  Finish(slot, StopReason::kCancelled);
}

// A failed step fails the requests that had tokens in it; the others go on.
void EngineImpl::FailStep(int32_t rc) {
  Status error = rc == 1 ? Internal("llama.cpp found no room in the KV cache for a decode step")
                         : Internal("llama.cpp failed to decode (code " + std::to_string(rc) + ")");
  if (cache_.feeding > 0) {
    llama_memory_seq_rm(memory_, cache_seq_, -1, -1);
    cache_ = PrefixCache{};
    for (auto& slot : slots_) {
      if (slot.phase == Phase::kWaitPrefix) Fail(slot, error);
    }
  }
  for (auto& slot : slots_) {
    if (slot.job && (slot.output >= 0 || slot.feeding > 0)) Fail(slot, error);
  }
}

void EngineImpl::Shutdown() {
  Status gone = Unavailable("the generation engine shut down");
  for (auto& slot : slots_) {
    if (slot.job) Fail(slot, gone);
  }
  for (auto& job : queue_) {
    job->error = gone;
    job->done = true;
    job->cv.notify_all();
  }
  queue_.clear();
}

}  // namespace cloister::generate
