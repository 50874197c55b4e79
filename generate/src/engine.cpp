#include <algorithm>
#include <system_error>

#include "cloister/llm/runtime.h"
#include "engine_impl.h"

namespace cloister::generate {
namespace {

// llama.cpp allows 256 sequences; one is the prefix cache.
constexpr uint32_t kMaxSlots = 128;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

bool IsProperPrefix(const std::vector<llama_token>& prefix, const std::vector<llama_token>& all) {
  return !prefix.empty() && prefix.size() < all.size() &&
         std::equal(prefix.begin(), prefix.end(), all.begin());
}

Status ValidateOptions(const EngineOptions& o) {
  if (o.slots < 1 || o.slots > kMaxSlots) {
    return InvalidArgument("generation slots must be 1.." + std::to_string(kMaxSlots) + ", not " +
                           std::to_string(o.slots));
  }
  if (o.batch_tokens < o.slots + 1) {
    return InvalidArgument("generation batch_tokens (" + std::to_string(o.batch_tokens) +
                           ") must exceed the slots (" + std::to_string(o.slots) + ")");
  }
  if (o.context_tokens < 16) return InvalidArgument("generation context_tokens must be >= 16");
  return Status::Ok();
}

// The model's own template when llama.cpp can apply it, else chatml.
std::pair<std::string, bool> ChooseTemplate(const llama_model* model) {
  const char* own = llama_model_chat_template(model, nullptr);
  if (own && RenderChat(own, {{"system", "s"}, {"user", "u"}}, true).ok()) return {own, false};
  return {"chatml", true};
}

}  // namespace

Result<std::unique_ptr<Engine>> Engine::Open(const std::filesystem::path& path,
                                             const EngineOptions& options) {
  CLOISTER_RETURN_IF_ERROR(ValidateOptions(options));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return NotFound("no model file " + path.string());
  llm::InitBackend();
  ModelPtr model(llama_model_load_from_file(path.c_str(), llama_model_default_params()));
  if (!model) return FailedPrecondition("llama.cpp could not load chat model " + path.string());
  uint32_t n_train = static_cast<uint32_t>(std::max(1, llama_model_n_ctx_train(model.get())));
  uint32_t slot_context = std::min(options.context_tokens, n_train);
  llama_context_params p = llama_context_default_params();
  p.n_seq_max = options.slots + 1;
  p.n_ctx = slot_context * p.n_seq_max;
  p.n_batch = p.n_ubatch = options.batch_tokens;
  p.kv_unified = options.kv_unified;
  p.n_threads = p.n_threads_batch = options.threads > 0 ? options.threads : llm::DefaultThreads();
  p.no_perf = true;
  ContextPtr ctx(llama_init_from_model(model.get(), p));
  if (!ctx) {
    return FailedPrecondition("llama.cpp could not create a context of " + std::to_string(p.n_ctx) +
                              " tokens for " + path.string() +
                              " ((slots + 1) x context_tokens); lower slots or context_tokens");
  }
  if (!options.kv_unified) slot_context = std::min(slot_context, llama_n_ctx_seq(ctx.get()));
  auto [tmpl, fallback] = ChooseTemplate(model.get());
  return std::unique_ptr<Engine>(new EngineImpl(std::move(model), std::move(ctx), options,
                                                slot_context, std::move(tmpl), fallback));
}

Result<std::string> ApplyChatTemplate(const std::string& tmpl,
                                      const std::vector<ChatMessage>& messages,
                                      bool add_assistant) {
  return RenderChat(tmpl, messages, add_assistant);
}

EngineImpl::EngineImpl(ModelPtr model, ContextPtr ctx, const EngineOptions& options,
                       uint32_t slot_context, std::string chat_template, bool fallback)
    : model_(std::move(model)),
      ctx_(std::move(ctx)),
      vocab_(llama_model_get_vocab(model_.get())),
      memory_(llama_get_memory(ctx_.get())),
      options_(options),
      slot_context_(slot_context),
      cache_seq_(static_cast<llama_seq_id>(options.slots)),
      template_(std::move(chat_template)),
      fallback_(fallback),
      specials_(SpecialTokenTexts(vocab_)),
      slots_(options.slots),
      batch_(llama_batch_init(static_cast<int32_t>(options.batch_tokens), 0, 1)) {
  for (uint32_t i = 0; i < options.slots; ++i) slots_[i].seq = static_cast<llama_seq_id>(i);
  stats_.slots = options.slots;
  scheduler_ = std::thread([this] { Run(); });
}

EngineImpl::~EngineImpl() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    Wake();
  }
  scheduler_.join();
  llama_batch_free(batch_);
}

Result<Generation> EngineImpl::Generate(const Request& request, const TokenCallback& on_token) {
  CLOISTER_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, Prepare(request));
  if (request.cancel.stop_requested()) {
    job->result.stop = StopReason::kCancelled;
    job->result.prompt_tokens = static_cast<uint32_t>(job->tokens.size());
    return job->result;
  }
  CLOISTER_RETURN_IF_ERROR(Enqueue(job));
  std::stop_callback on_cancel(request.cancel, [this, job] { Cancel(job); });
  return Await(job, on_token);
}

Result<std::shared_ptr<Job>> EngineImpl::Prepare(const Request& request) const {
  if (request.messages.empty() && request.prompt.empty()) {
    return InvalidArgument("the request has neither messages nor a prompt");
  }
  auto job = std::make_shared<Job>();
  job->submitted = Clock::now();
  job->options = request.options;
  const auto& messages = request.messages;
  if (!messages.empty()) {
    CLOISTER_ASSIGN_OR_RETURN(job->tokens, ChatTokens(messages, true));
    if (request.use_prefix_cache && messages.size() > 1 && messages[0].role == "system") {
      auto system = ChatTokens({messages[0]}, false);
      if (system.ok() && IsProperPrefix(*system, job->tokens)) job->prefix = system->size();
    }
    // chatml's end of turn is no special token to a model without the template: stop on its text.
    if (fallback_) job->options.stop.push_back("<|im_end|>");
  } else {
    job->tokens = Tokenize(vocab_, request.prompt, true, true);
    size_t shared = request.shared_prefix_bytes;
    if (request.use_prefix_cache && shared > 0 && shared < request.prompt.size()) {
      auto prefix =
          Tokenize(vocab_, std::string_view(request.prompt).substr(0, shared), true, true);
      if (IsProperPrefix(prefix, job->tokens)) job->prefix = prefix.size();
    }
  }
  if (job->tokens.empty()) return InvalidArgument("the prompt is empty");
  if (job->tokens.size() >= slot_context_) {
    return InvalidArgument("prompt of " + std::to_string(job->tokens.size()) +
                           " tokens leaves no room for an answer in the context of " +
                           std::to_string(slot_context_) +
                           " tokens per request; shorten it or raise context_tokens");
  }
  job->result.prompt_tokens = static_cast<uint32_t>(job->tokens.size());
  return job;
}

Result<std::vector<llama_token>> EngineImpl::ChatTokens(const std::vector<ChatMessage>& messages,
                                                        bool add_assistant) const {
  CLOISTER_ASSIGN_OR_RETURN(std::string text, ApplyChatTemplate(messages, add_assistant));
  std::vector<llama_token> tokens = Tokenize(vocab_, text, true, true);
  // Templates that write the BOS text themselves would otherwise start with two.
  llama_token bos = llama_vocab_bos(vocab_);
  if (tokens.size() >= 2 && tokens[0] == bos && tokens[1] == bos) tokens.erase(tokens.begin());
  return tokens;
}

Result<std::string> EngineImpl::ApplyChatTemplate(const std::vector<ChatMessage>& messages,
                                                  bool add_assistant) const {
  std::vector<ChatMessage> safe = messages;
  for (auto& m : safe) m.content = BreakSpecialTokens(std::move(m.content), specials_);
  return RenderChat(template_, safe, add_assistant);
}

uint32_t EngineImpl::CountTokens(std::string_view text) const {
  return static_cast<uint32_t>(Tokenize(vocab_, text, false, false).size());
}

EngineStats EngineImpl::Stats() const {
  std::lock_guard lock(mu_);
  EngineStats s = stats_;
  s.busy_slots = busy_;
  s.queued = static_cast<uint32_t>(queue_.size());
  s.tokens_per_second =
      generating_seconds_ > 0 ? static_cast<double>(s.generated_tokens) / generating_seconds_ : 0;
  return s;
}

Status EngineImpl::Enqueue(const std::shared_ptr<Job>& job) {
  std::lock_guard lock(mu_);
  if (stopping_) return Unavailable("the generation engine is shutting down");
  if (busy_ + queue_.size() >= options_.slots + options_.queue) {
    ++stats_.refused;
    return Unavailable("all " + std::to_string(options_.slots) + " generation slots are busy and " +
                       std::to_string(queue_.size()) +
                       " requests are waiting; retry later (or raise the generation queue)");
  }
  queue_.push_back(job);
  Wake();
  return Status::Ok();
}

void EngineImpl::Cancel(const std::shared_ptr<Job>& job) {
  std::lock_guard lock(mu_);
  if (job->done) return;
  auto queued = std::find(queue_.begin(), queue_.end(), job);
  if (queued != queue_.end()) {
    queue_.erase(queued);
    job->result.stop = StopReason::kCancelled;
    job->result.total_seconds = Since(job->submitted);
    job->done = true;
    ++stats_.completed;
    job->cv.notify_all();
    return;
  }
  job->cancel = true;
  Wake();
}

Result<Generation> EngineImpl::Await(const std::shared_ptr<Job>& job,
                                     const TokenCallback& on_token) {
  std::string text;
  bool refused_by_callback = false;
  std::unique_lock lock(mu_);
  for (;;) {
    job->cv.wait(lock, [&] { return job->done || !job->pieces.empty(); });
    std::deque<std::string> pieces;
    pieces.swap(job->pieces);
    const bool done = job->done, dropped = job->cancel;
    if (!pieces.empty()) Wake();  // a slot paused for this reader may go on
    lock.unlock();
    for (const auto& piece : pieces) {
      if (dropped || refused_by_callback) break;
      text += piece;
      if (on_token && !on_token(piece)) refused_by_callback = true;
    }
    lock.lock();
    if (refused_by_callback && !job->cancel && !job->done) {
      job->cancel = true;
      Wake();
    }
    if (done) break;
  }
  if (!job->error.ok()) return job->error;
  Generation out = job->result;
  out.text = std::move(text);
  if (refused_by_callback) out.stop = StopReason::kCancelled;
  return out;
}

void EngineImpl::Wake() {
  wake_ = true;
  work_cv_.notify_one();
}

}  // namespace cloister::generate
