// Text embeddings from a local GGUF embedding model, run by llama.cpp.
//
//   auto embedder = embed::Embedder::Open("models/bge-small-en-v1.5-q8_0.gguf", {});
//   if (!embedder.ok()) return embedder.status();
//   auto vectors = (*embedder)->Embed({"first passage", "second passage"});
//   // vectors->at(i).size() == (*embedder)->dimension(), each of L2 norm 1
//
// The model's declared pooling is used (mean when it declares none). Several texts are packed
// into one decode as separate sequences. Thread safety: any thread may call; document calls are
// serialised among themselves, and so are query calls, but a query runs beside a document batch
// (it has a context of its own, see EmbedderOptions::query_threads).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/core/status.h"

namespace cloister::embed {

// What a text is: retrieval models embed questions and passages differently.
enum class Role { kQuery, kDocument };

// The prefixes a model family was trained with ("query: " / "passage: " for e5,
// "search_query: " / "search_document: " for nomic, an instruction before bge and Qwen3
// queries). Detected from the model's name and architecture unless set in EmbedderOptions.
struct Prefixes {
  std::string query;
  std::string document;
};
// Prefixes for a model, from its general.name and general.architecture.
Prefixes PrefixesFor(const std::string& model_name, const std::string& architecture);

// The id a model's vectors are stored under: its file name, plus a hash of the document prefix
// when `document_prefix` overrides the family's (`detected`): vectors made behind another prefix
// are not interchangeable.
std::string ModelId(const std::filesystem::path& model, const Prefixes& detected,
                    const std::optional<std::string>& document_prefix);

struct EmbedderOptions {
  int threads = 0;             // 0: every core (CLOISTER_THREADS overrides)
  // Threads for queries (Role::kQuery), which get a context of their own so that a search
  // never waits behind documents being embedded. One keeps a query's latency steady beside
  // busy cores; 0 sends queries through the document context with `threads`.
  int query_threads = 1;
  uint32_t max_tokens = 512;   // longest input kept; longer input is truncated with a warning.
                               // Capped at the model's trained context.
  uint32_t max_sequences = 16; // texts packed into one decode
  // Overrides the detected prefixes when set (config embed.query_prefix / embed.document_prefix).
  std::optional<std::string> query_prefix;
  std::optional<std::string> document_prefix;
};

struct EmbedStats {
  uint64_t texts = 0;
  uint64_t tokens = 0;
  uint64_t truncated = 0;  // inputs cut at max_tokens
  double seconds = 0;      // time spent in tokenisation and decode
};

class Embedder {
 public:
  // kNotFound if the file is missing; kFailedPrecondition if llama.cpp cannot load it or it
  // yields no embeddings (not an embedding model).
  static Result<std::unique_ptr<Embedder>> Open(const std::filesystem::path& model,
                                                const EmbedderOptions& options);
  virtual ~Embedder() = default;

  virtual int dimension() const = 0;
  // ModelId(): the file name (plus the document prefix's hash when overridden), used to key
  // stored vectors to the model that made them.
  virtual const std::string& model_id() const = 0;

  // One unit-length vector per text, in order, each text behind its role's prefix. Empty texts
  // embed as the empty sequence's vector. kInternal if llama.cpp fails to decode.
  virtual Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts,
                                                        Role role = Role::kDocument) = 0;
  virtual const Prefixes& prefixes() const = 0;

  // Tokens of `text` (without prefix) as this model's tokenizer counts them, specials included.
  // Thread-safe.
  virtual int CountTokens(std::string_view text) const = 0;

  // Totals since Open, for tokens/s reporting.
  virtual EmbedStats stats() const = 0;
};

}  // namespace cloister::embed
