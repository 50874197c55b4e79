// Cloister's run-time configuration: where data, models and the inbox live, the service's
// address, and the ingestion limits. Only app/ reads configuration (STYLE.md); every module gets
// its own Options from here.
#pragma once

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cloister::app {

struct IngestConfig {
  int workers = 2;                        // files extracted at once
  int timeout_seconds = 300;              // per file, in the sandboxed worker
  uint64_t memory_mb = 2048;              // address-space limit of the worker
  uint64_t max_file_bytes = 512ull << 20; // larger files fail as "too large"
  int max_pages = 5000;                   // PDF pages read per file
  bool ocr = true;                        // OCR PDF pages without a text layer
  std::string ocr_languages = "eng";      // tesseract languages, e.g. "eng+deu"
  std::vector<std::string> pdf_passwords; // tried on encrypted PDFs
  int max_depth = 5;                      // attachment / nested message depth
  int chunk_tokens = 300;                 // chunk budget
  double chunk_overlap = 0.15;            // fraction of the budget repeated
  int settle_ms = 2000;                   // watcher: a file must be unchanged this long
  // The program re-executed to extract in isolation, with `__extract`. Empty: this program.
  std::filesystem::path worker_binary;
};

struct IndexConfig {
  std::string factory;            // FAISS index_factory string; empty: chosen by collection size
  int64_t exact_below = 50'000;   // automatic choice: exact search below this many vectors
  double compact_ratio = 0.2;     // compact when removed vectors exceed this share of live ones
};

struct RetrievalConfig {
  double rrf_k = 60;            // reciprocal rank fusion constant (higher: flatter)
  double vector_weight = 1.0;   // fusion weight of the vector ranking
  double lexical_weight = 1.0;  // fusion weight of the BM25 ranking
  // Override the prefixes the embedding model's family expects (embed::PrefixesFor). A document
  // prefix other than the family's gives the model another id (embed::ModelId), so the
  // collection is re-embedded with it in the background, as for a new model.
  std::optional<std::string> query_prefix;
  std::optional<std::string> document_prefix;
};

struct AnswerConfig {
  uint32_t slots = 4;             // answers generated at once by the chat model
  uint32_t queue = 16;            // answers waiting for a slot; past it requests are refused
  uint32_t context_tokens = 4096; // per answer: prompt and answer (capped at the model's)
  uint32_t max_tokens = 512;      // answer length
  float temperature = 0.0f;       // 0: greedy, the most faithful to the sources
  // The least evidence that lets the model answer: the best passage must hold this share of
  // the question's content words, weighted by rarity (0 turns the check off).
  double min_evidence = 0.5;
  int extractive_sentences = 3;   // sentences quoted when there is no chat model
  // An OpenAI-compatible server on the intranet answers instead of a local model when set
  // (http://host:port). Off by default: it is the only connection Cloister makes to another host.
  std::string remote_url;
  std::string remote_model;       // empty: the first model the server lists
  std::string remote_api_key;     // from the environment (CLOISTER_CHAT_API_KEY), never a flag
};

struct Config {
  std::filesystem::path data_dir = "data";      // SQLite catalog, FAISS index, originals
  std::filesystem::path models_dir = "models";  // *.gguf, classified as embedding or chat
  std::filesystem::path inbox_dir = "inbox";    // watched folder
  std::string bind = "127.0.0.1";               // serve: listen address
  uint16_t port = 8080;                         // serve: listen port (0: any free port)
  int http_threads = 16;                        // serve: request worker threads
  // serve: every API call needs a user (session cookie or API key; docs/security.md). Off by
  // default; serve refuses a non-loopback bind without it unless insecure_no_auth is set.
  bool auth = false;
  bool insecure_no_auth = false;                // serve: allow a non-loopback bind without auth
  int session_idle_seconds = 12 * 3600;         // serve --auth: a session unused this long ends
  int shutdown_grace_seconds = 120;             // serve: on SIGTERM, answers in progress get this long
  uint64_t max_upload_bytes = 512ull << 20;     // serve: a larger uploaded file gets 413
  uint64_t audit_rotate_bytes = 10ull << 20;    // serve: data/audit/audit.log rotates past this size
  int audit_keep = 10;                          // serve: rotated audit files kept
  // serve: per-client limits (a client: the user, else the address, IPv6 by /64); 0: no limit.
  // Over one: 429 with Retry-After (docs/API.md, "Malformed requests and limits").
  double client_requests_per_second = 50;       // sustained, a token bucket per client
  double client_burst = 200;                    // the bucket's size, at least 1
  int client_concurrent_answers = 4;            // asks and chat completions in progress
  int client_concurrent_requests = 32;          // requests in progress, answers included
  IngestConfig ingest;
  IndexConfig index;
  RetrievalConfig retrieval;
  AnswerConfig answer;

  std::filesystem::path catalog_path() const { return data_dir / "cloister.db"; }
  // The FAISS index of one embedding model's vectors (the model id is its file name).
  std::filesystem::path index_path(std::string_view model_id) const {
    std::string name;
    for (char c : model_id) name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
    return data_dir / "vectors" / (name + ".faiss");
  }
  std::filesystem::path originals_dir() const { return data_dir / "originals"; }
  std::filesystem::path uploads_dir() const { return data_dir / "uploads"; }  // files sent over HTTP
};

}  // namespace cloister::app
