#include "cloister/embed/embedder.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <system_error>

#include "cloister/core/log.h"
#include "cloister/llm/runtime.h"
#include "llama.h"

namespace cloister::embed {
namespace {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;

void Normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

std::string MetaString(const llama_model* model, const char* key) {
  char buf[512];
  int32_t n = llama_model_meta_val_str(model, key, buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(std::min<int32_t>(n, sizeof buf - 1)));
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

ContextPtr MakeContext(llama_model* model, uint32_t n_tokens, uint32_t n_seqs, int threads,
                       enum llama_pooling_type pooling);

// A context and its batch: one decode at a time.
struct Lane {
  Lane(ContextPtr c, uint32_t max_tokens, uint32_t max_seqs)
      : ctx(std::move(c)), max_seqs(max_seqs),
        batch(llama_batch_init(static_cast<int32_t>(max_tokens), 0, static_cast<int32_t>(max_seqs))) {}
  ~Lane() { llama_batch_free(batch); }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  ContextPtr ctx;
  uint32_t max_seqs;
  llama_batch batch;
};

class LlamaEmbedder final : public Embedder {
 public:
  LlamaEmbedder(ModelPtr model, ContextPtr ctx, std::string id, uint32_t max_tokens,
                uint32_t max_seqs, Prefixes prefixes, int query_threads)
      : model_(std::move(model)), id_(std::move(id)), prefixes_(std::move(prefixes)),
        vocab_(llama_model_get_vocab(model_.get())), dim_(llama_model_n_embd(model_.get())),
        max_tokens_(max_tokens), query_threads_(query_threads),
        pooling_(llama_pooling_type(ctx.get())), bulk_(std::move(ctx), max_tokens, max_seqs) {}

  int dimension() const override { return dim_; }
  const std::string& model_id() const override { return id_; }
  EmbedStats stats() const override {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }

  const Prefixes& prefixes() const override { return prefixes_; }

  int CountTokens(std::string_view text) const override {
    int32_t len = static_cast<int32_t>(std::min<size_t>(text.size(), INT32_MAX / 2));
    // With no room for tokens, llama_tokenize returns minus the number it needs.
    int32_t n = llama_tokenize(vocab_, text.data(), len, nullptr, 0, /*add_special=*/true,
                               /*parse_special=*/false);
    return n < 0 ? -n : n;
  }

  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                Role role) override {
    // Queries have a lane of their own: a search never waits behind a batch of document
    // chunks being embedded for ingestion, and its few tokens run on few threads, which keeps
    // it quick beside busy cores (threads that wait at ggml's barriers for a descheduled
    // sibling are what makes a many-thread decode slow on a loaded machine).
    bool query = role == Role::kQuery && query_threads_ > 0;
    std::unique_lock lock(query ? query_mu_ : bulk_mu_);
    Lane* lane = &bulk_;
    if (query) {
      if (!query_) {
        ContextPtr ctx = MakeContext(model_.get(), max_tokens_, 1, query_threads_, pooling_);
        if (!ctx) return Internal("llama.cpp could not create a query context for " + id_);
        query_ = std::make_unique<Lane>(std::move(ctx), max_tokens_, 1);
      }
      lane = query_.get();
    }
    auto start = std::chrono::steady_clock::now();
    const std::string& prefix = role == Role::kQuery ? prefixes_.query : prefixes_.document;
    std::vector<std::vector<float>> out(texts.size());
    std::vector<std::vector<llama_token>> tokens(texts.size());
    uint64_t token_count = 0, truncated = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      tokens[i] = Tokenize(prefix.empty() ? texts[i] : prefix + texts[i], &truncated);
      token_count += tokens[i].size();
    }

    // Pack whole sequences into one physical batch: a BERT input must sit in a single ubatch.
    size_t next = 0;
    while (next < texts.size()) {
      lane->batch.n_tokens = 0;
      size_t first = next;
      while (next < texts.size() && next - first < lane->max_seqs &&
             lane->batch.n_tokens + tokens[next].size() <= max_tokens_) {
        AddSequence(*lane, tokens[next], static_cast<llama_seq_id>(next - first));
        ++next;
      }
      CLOISTER_RETURN_IF_ERROR(DecodeInto(*lane, first, next, out));
    }
    std::lock_guard stats_lock(stats_mu_);
    stats_.texts += texts.size();
    stats_.tokens += token_count;
    stats_.truncated += truncated;
    stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
  }

 private:
  std::vector<llama_token> Tokenize(const std::string& text, uint64_t* truncated) const {
    int32_t len = static_cast<int32_t>(std::min<size_t>(text.size(), INT32_MAX / 2));
    std::vector<llama_token> toks(static_cast<size_t>(len) + 4);
    int32_t n = llama_tokenize(vocab_, text.data(), len, toks.data(), static_cast<int32_t>(toks.size()),
                               /*add_special=*/true, /*parse_special=*/false);
    if (n < 0) {
      toks.resize(static_cast<size_t>(-n));
      n = llama_tokenize(vocab_, text.data(), len, toks.data(), static_cast<int32_t>(toks.size()),
                         true, false);
    }
    toks.resize(static_cast<size_t>(std::max(n, 0)));
    if (toks.size() > max_tokens_) {
      ++*truncated;
      log::Warn("embed", "input truncated at the model's context",
                {{"tokens", std::to_string(toks.size())}, {"kept", std::to_string(max_tokens_)}});
      llama_token last = toks.back();
      toks.resize(max_tokens_);
      // Keep the closing separator BERT-style models were trained to see.
      if (llama_vocab_get_add_sep(vocab_) || llama_vocab_get_add_eos(vocab_)) toks.back() = last;
    }
    return toks;
  }

  static void AddSequence(Lane& lane, const std::vector<llama_token>& toks, llama_seq_id seq) {
    llama_batch& batch = lane.batch;
    for (size_t p = 0; p < toks.size(); ++p) {
      int32_t i = batch.n_tokens++;
      batch.token[i] = toks[p];
      batch.pos[i] = static_cast<llama_pos>(p);
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = seq;
      batch.logits[i] = true;  // pooling reads every token; llama.cpp warns otherwise
    }
  }

  Status DecodeInto(Lane& lane, size_t first, size_t end, std::vector<std::vector<float>>& out) {
    llama_context* ctx = lane.ctx.get();
    llama_memory_clear(llama_get_memory(ctx), true);
    if (lane.batch.n_tokens > 0 && llama_decode(ctx, lane.batch) != 0) {
      return Internal("llama.cpp failed to embed a batch of " + std::to_string(end - first) +
                      " texts with " + id_);
    }
    for (size_t i = first; i < end; ++i) {
      const float* e = llama_get_embeddings_seq(ctx, static_cast<llama_seq_id>(i - first));
      out[i].assign(static_cast<size_t>(dim_), 0.0f);
      if (e) std::copy(e, e + dim_, out[i].begin());
      Normalize(out[i]);
    }
    return Status::Ok();
  }

  ModelPtr model_;  // declared first: the lanes' contexts go before it
  std::string id_;
  Prefixes prefixes_;
  const llama_vocab* vocab_;
  int dim_;
  uint32_t max_tokens_;
  int query_threads_;
  enum llama_pooling_type pooling_;
  std::mutex bulk_mu_;
  Lane bulk_;
  std::mutex query_mu_;
  std::unique_ptr<Lane> query_;  // made at the first query
  mutable std::mutex stats_mu_;
  EmbedStats stats_;
};

ContextPtr MakeContext(llama_model* model, uint32_t n_tokens, uint32_t n_seqs, int threads,
                       enum llama_pooling_type pooling) {
  llama_context_params p = llama_context_default_params();
  p.embeddings = true;
  p.n_ctx = n_tokens;
  p.n_batch = n_tokens;
  p.n_ubatch = n_tokens;
  p.n_seq_max = n_seqs;
  // One KV buffer for all sequences: a batch holds at most n_tokens tokens however they split
  // into texts, and it is cleared after each batch. Per-sequence buffers would give each text
  // only n_ctx / n_seqs cells (rounded up to 256), too few for a long text in a decoder model.
  p.kv_unified = true;
  p.n_threads = threads;
  p.n_threads_batch = threads;
  p.pooling_type = pooling;
  p.no_perf = true;
  return ContextPtr(llama_init_from_model(model, p));
}

}  // namespace

Prefixes PrefixesFor(const std::string& model_name, const std::string& architecture) {
  std::string name = Lower(model_name), arch = Lower(architecture);
  auto has = [&](const char* w) { return name.find(w) != std::string::npos; };
  if (arch.rfind("nomic-bert", 0) == 0 || has("nomic")) return {"search_query: ", "search_document: "};
  if (has("e5")) return {"query: ", "passage: "};
  if (has("bge") && !has("bge-m3")) {
    return {"Represent this sentence for searching relevant passages: ", ""};
  }
  if (has("qwen3") && has("embed")) {
    return {"Instruct: Given a question, retrieve passages that answer it\nQuery: ", ""};
  }
  return {};
}

std::string ModelId(const std::filesystem::path& model, const Prefixes& detected,
                    const std::optional<std::string>& document_prefix) {
  std::string id = model.filename().string();
  if (!document_prefix || *document_prefix == detected.document) return id;
  uint64_t h = 14695981039346656037ull;  // FNV-1a: stable across builds and platforms
  for (unsigned char c : *document_prefix) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return id + "#document-prefix-" + hex;
}

Result<std::unique_ptr<Embedder>> Embedder::Open(const std::filesystem::path& path,
                                                 const EmbedderOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return NotFound("no model file " + path.string());
  llm::InitBackend();
  llama_model_params mp = llama_model_default_params();
  ModelPtr model(llama_model_load_from_file(path.c_str(), mp));
  if (!model) return FailedPrecondition("llama.cpp could not load embedding model " + path.string());

  uint32_t n_train = static_cast<uint32_t>(std::max(1, llama_model_n_ctx_train(model.get())));
  uint32_t n_tokens = std::min(std::max<uint32_t>(options.max_tokens, 8), n_train);
  uint32_t n_seqs = std::max<uint32_t>(options.max_sequences, 1);
  int threads = options.threads > 0 ? options.threads : llm::DefaultThreads();

  ContextPtr ctx = MakeContext(model.get(), n_tokens, n_seqs, threads, LLAMA_POOLING_TYPE_UNSPECIFIED);
  if (ctx && llama_pooling_type(ctx.get()) == LLAMA_POOLING_TYPE_NONE) {
    // A model that declares no pooling gets mean pooling: one vector per text is what we store.
    ctx = MakeContext(model.get(), n_tokens, n_seqs, threads, LLAMA_POOLING_TYPE_MEAN);
  }
  if (!ctx) return FailedPrecondition("llama.cpp could not create an embedding context for " + path.string());
  // As llm::InspectModel names models (so app can compute ModelId without loading one).
  std::string name = MetaString(model.get(), "general.name");
  if (name.empty()) name = path.stem().string();
  Prefixes prefixes = PrefixesFor(name, MetaString(model.get(), "general.architecture"));
  std::string id = ModelId(path, prefixes, options.document_prefix);
  if (options.query_prefix) prefixes.query = *options.query_prefix;
  if (options.document_prefix) prefixes.document = *options.document_prefix;
  return std::unique_ptr<Embedder>(new LlamaEmbedder(std::move(model), std::move(ctx),
                                                     std::move(id), n_tokens, n_seqs,
                                                     std::move(prefixes), options.query_threads));
}

}  // namespace cloister::embed
