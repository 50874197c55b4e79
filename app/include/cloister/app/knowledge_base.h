// The KnowledgeBase facade: everything the CLI and the web service do goes through it.
//
//   auto kb = app::KnowledgeBase::Open(config);     // opens (and migrates) the catalog
//   if (!kb.ok()) return kb.status();
//   app::StatusReport status = (*kb)->Status(app::Caller::Everything());
//   auto found = (*kb)->Search(app::Caller::User(user_id), "refund policy", 10);
//
// It owns the catalog and knows the models found in the models folder. Thread safety: every
// method may be called from several threads at once.
//
// Permissions: every method that can reveal a document takes the Caller first, with no default.
// A caller limited to some collections (a user with role "user") never sees, counts or is ranked
// against documents of others: the limit is part of the retrieval itself (BM25's SQL condition,
// FAISS's IDSelector), not a filter over results. A document the caller may not read is
// kNotFound exactly as a missing one is, so its existence is not revealed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string_view>
#include <string>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/core/status.h"

namespace cloister::app {

struct ModelEntry {
  std::filesystem::path path;
  std::string name;
  std::string kind;          // "embedding" | "chat"
  std::string architecture;
  std::string quantization;  // "Q8_0", "Q4_K_M", "F16", ...
  uint64_t size_bytes = 0;
  uint64_t parameters = 0;
  uint32_t dimension = 0;    // embedding length
  uint32_t context_length = 0;
  std::optional<bool> loads;  // set when a load was tried
  std::string error;          // why it could not be read or loaded
};

// Who is asking, and so which collections a call may read. The web layer makes one from the
// authenticated principal; the CLI, serve without authentication and administrators read
// everything. A user's grants are read from the catalog at every call, so a revoke takes effect
// at once.
struct Caller {
  std::optional<int64_t> user_id;  // set: only the collections granted to this user
  static Caller Everything() { return {}; }
  static Caller User(int64_t id) {
    Caller c;
    c.user_id = id;
    return c;
  }
};

struct StatusReport {
  std::string version;
  std::filesystem::path data_dir;
  int64_t documents = 0;
  int64_t chunks = 0;
  int64_t embeddings = 0;
  std::map<std::string, int64_t> documents_by_status;  // ready, partial, failed, queued
  std::map<std::string, int64_t> jobs_by_state;        // queued, extracting, ..., done, failed
  std::optional<ModelEntry> embedding_model;  // the one in use, if any
  std::optional<ModelEntry> chat_model;
  std::string retrieval_mode;  // "hybrid" with an embedding model, else "lexical"
  std::string answer_mode;     // "generated" with a chat model, else "extractive"
  std::string index_kind;      // "none" until vectors exist
  int64_t index_size = 0;
  struct Failure {
    std::string path;
    std::string error;  // "<reason>: <message>", reason one of encrypted, corrupt, unsupported,
                        // too large, timeout, out of memory, crashed, missing, error
  };
  std::vector<Failure> recent_failures;  // newest first, at most 20
  // Set while the embedding model changes: every chunk gets a vector from the new model in the
  // background (serve, or `cloister reembed`) while the old one's vectors answer queries.
  struct Reembedding {
    std::string from;   // the model whose vectors serve meanwhile
    std::string to;     // the configured model
    int64_t done = 0;   // chunks with a vector from `to`
    int64_t total = 0;  // chunks
    bool old_vectors_serve = false;  // false when `from` left the models folder: lexical meanwhile
  };
  std::optional<Reembedding> reembedding;
};

struct SearchHit {
  int64_t chunk_id = 0;
  int64_t document_id = 0;
  std::string path;
  std::string title;
  std::string type;                    // "pdf", "email", ...
  std::string name;                    // attachment or message name, when it has one
  std::optional<int64_t> parent_id;    // the message an attachment came from
  std::optional<int> page;             // first page of the passage
  std::string from;                    // mail (and its attachments): sender, date, subject
  std::string date;
  std::string subject;
  std::string text;                    // the passage
  std::string snippet;                 // matched terms between « and »
  double score = 0;                    // higher is better, comparable within one query
};

// What to search with. kAuto: hybrid when an embedding model is configured, else lexical.
enum class SearchMode { kAuto, kLexical, kVector, kHybrid };

struct SearchFilters {
  std::vector<std::string> types;     // document types ("pdf", "email", ...); empty: any
  std::optional<std::string> from;    // mail sender contains this (case-insensitive)
  std::optional<int64_t> after;       // document date (created / mail date), unix seconds, >=
  std::optional<int64_t> before;      // ... <
  std::vector<std::string> collections;  // collection names; empty: any the caller may read
};

struct SearchOptions {
  int k = 10;
  SearchMode mode = SearchMode::kAuto;
  SearchFilters filters;
  double rrf_k = 60;             // reciprocal rank fusion constant
  double vector_weight = 1.0;    // fusion weights
  double lexical_weight = 1.0;
  bool mmr = false;              // maximal marginal relevance re-ranking for diversity
  double mmr_lambda = 0.7;
  bool merge_neighbours = true;  // adjacent chunks of one document become one passage
};

struct SearchResults {
  std::string mode;  // "lexical" (BM25), "vector" or "hybrid"
  std::vector<SearchHit> results;
  // Query words too common in a large collection to select passages by (storage's
  // kLexicalRowBudget): BM25 matched on the others. Vector search still read the whole query.
  std::vector<std::string> skipped_words;
};

// A turn of an earlier conversation, for follow-up questions.
struct ChatTurn {
  std::string role;     // "user" or "assistant"
  std::string content;
};

struct AskOptions {
  int k = 8;                      // passages retrieved; fewer go to the model if they do not fit
  SearchFilters filters;
  std::vector<ChatTurn> history;  // earlier turns, oldest first
  std::optional<uint32_t> max_tokens;  // answer length; default Config::answer.max_tokens
  std::optional<float> temperature;    // default Config::answer.temperature (0: greedy)
  std::optional<uint32_t> seed;
  std::stop_token cancel;         // stops generation (and frees its slot) when requested
};

// A passage the answer cites, numbered as its [n] markers.
struct AnswerSource {
  int n = 0;
  SearchHit passage;
};

struct AnswerSentence {
  std::string text;          // the sentence with its markers
  std::vector<int> sources;  // the n of each source it cites
};

struct Answer {
  std::string mode;              // "generated" (chat model) or "extractive" (sentences quoted)
  std::string text;              // with [n] markers that all point to `sources`
  bool evidence = true;          // false: nothing relevant was found; the model was not asked
  std::vector<AnswerSource> sources;      // the cited passages, by n
  std::vector<AnswerSentence> sentences;  // which sentence cites which source
  std::string search_mode;       // how the passages were found ("hybrid", "lexical", ...)
  std::string search_query;      // what was searched (the question, with the previous one for
                                 // a follow-up)
  int passages_considered = 0;   // retrieved passages given to the model (or extracted from)
  uint32_t prompt_tokens = 0;
  uint32_t generated_tokens = 0;
  std::string stop;              // "end", "max_tokens", "context_full", "cancelled", "" (none)
  double seconds = 0;
  double first_token_seconds = 0;
};

// Receives a generated answer's text piece by piece; returning false cancels.
using AnswerCallback = std::function<bool(std::string_view piece)>;

// A chat model answers through this: the local GGUF model (generate::Engine), or an
// OpenAI-compatible server on the intranet (web::RemoteChat) when an administrator configures one.
struct ChatRequest {
  std::vector<ChatTurn> messages;  // "system", "user", "assistant"
  uint32_t max_tokens = 512;
  float temperature = 0.0f;
  std::optional<uint32_t> seed;
  std::stop_token cancel;
};

struct ChatReply {
  std::string text;              // exactly what was streamed
  uint32_t prompt_tokens = 0;
  uint32_t generated_tokens = 0;
  std::string stop;              // "end", "max_tokens", "context_full", "cancelled"
  double first_token_seconds = 0;
};

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  virtual std::string name() const = 0;            // the model, for status and logs
  virtual uint32_t context_tokens() const = 0;     // prompt and answer, per request
  virtual uint32_t CountTokens(std::string_view text) const = 0;  // at least the true count
  // Streams the reply through `on_token` (false cancels). kUnavailable when busy.
  virtual Result<ChatReply> Chat(const ChatRequest& request, const AnswerCallback& on_token) = 0;
};

// The library, as the web UI lists it.
struct DocumentInfo {
  int64_t id = 0;
  std::optional<int64_t> parent_id;  // an attachment's message
  std::string path;
  std::string name;                  // the file name shown (an attachment's own name)
  std::string title;
  std::string type;
  std::string collection;            // the name of the collection it belongs to
  std::string status;                // "ready", "partial", "failed", "queued"
  std::string error;
  int64_t pages = 0;
  int64_t chunks = 0;
  int64_t attachments = 0;
  int64_t size_bytes = 0;
  int64_t created_at = 0;            // unix seconds
  int64_t updated_at = 0;
  std::string from;                  // mail
  std::string date;
  std::string subject;
};

struct DocumentList {
  int64_t total = 0;                 // top-level documents in the library
  std::vector<DocumentInfo> documents;  // this page, newest first
};

struct PassageInfo {
  int64_t id = 0;
  int ordinal = 0;
  std::optional<int> page;
  std::string text;
};

// One file's ingestion.
struct JobInfo {
  int64_t id = 0;
  std::string path;
  std::string name;                  // its file name
  std::string state;                 // queued, extracting, chunking, embedding, done, failed
  double progress = 0;               // 0 to 1, by state
  std::string error;
  std::optional<int64_t> document_id;
};

// One file given to Ingest.
struct IngestedFile {
  std::string path;
  bool ok = false;
  std::string error;  // when !ok: "<reason>: <message>"
  std::string note;   // "unchanged", "duplicate of ...", "renamed from ..."
  int64_t documents = 0;  // documents stored from it (mail messages and attachments count)
  int64_t chunks = 0;
  int64_t pages = 0;
  std::vector<int64_t> document_ids;
};

struct IngestReport {
  int64_t documents = 0;
  int64_t chunks = 0;
  int64_t pages = 0;
  std::vector<IngestedFile> ingested;
  std::vector<IngestedFile> failed;
};

struct TextEmbeddings {
  std::string model;                         // the model's id (its file name)
  std::vector<std::vector<float>> vectors;   // one per text, in order
  int64_t tokens = 0;                        // tokens read, prefixes included
};

struct BackupReport {
  std::filesystem::path folder;
  int64_t documents = 0;
  int64_t chunks = 0;
  int64_t embeddings = 0;
  int64_t files = 0;   // files copied: catalog, vector index, uploads
  int64_t bytes = 0;
  double seconds = 0;
};

struct IngestProgress {
  int64_t files_total = 0;
  int64_t files_done = 0;    // ingested or failed
  int64_t files_failed = 0;
  int64_t pages = 0;
  int64_t chunks = 0;
  double seconds = 0;        // since the call started
};

class KnowledgeBase {
 public:
  // Creates the data folder if needed and opens the catalog. kFailedPrecondition when the data
  // folder cannot be created or the catalog was written by a newer Cloister; kDataLoss when the
  // catalog file is corrupt.
  // `chat`, when given, answers instead of a local chat model (a remote server).
  static Result<std::unique_ptr<KnowledgeBase>> Open(const Config& config,
                                                     std::shared_ptr<ChatBackend> chat = nullptr);
  virtual ~KnowledgeBase() = default;

  virtual const Config& config() const = 0;
  // For a limited caller every figure (documents, chunks, embeddings, jobs, failures, index
  // size, re-embedding progress) counts only the collections it may read.
  virtual Result<StatusReport> Status(const Caller& caller) = 0;

  // Ingests files and folders (recursively; Maildir message files are mail) and waits until
  // each is ingested or failed. A file under a collection's folder belongs to that collection
  // (the deepest such folder wins), any other to the default collection. A file failing is an outcome, not an error: the result is an
  // error only when the catalog cannot be used, or kNotFound when a given path does not exist.
  // `progress` is called a few times a second from this thread.
  virtual Result<IngestReport> Ingest(const std::vector<std::filesystem::path>& paths,
                                      const std::function<void(const IngestProgress&)>& progress) = 0;

  // The k passages that best match `query`, best first. The query is text, never syntax: any
  // string is accepted (an empty one finds nothing). Only documents of collections the caller
  // may read take part. kInvalidArgument when k < 1; kNotFound when filters name a collection
  // that does not exist or that the caller may not read (the same message for both).
  virtual Result<SearchResults> Search(const Caller& caller, const std::string& query, int k) = 0;
  virtual Result<SearchResults> Search(const Caller& caller, const std::string& query,
                                       const SearchOptions& options) = 0;

  // Removes a document (and its attachments) from the catalog and from every search mode at
  // once. kNotFound for an unknown id; kInvalidArgument for an attachment (delete its message).
  // The file in the inbox, if any, stays: ingesting it again brings the document back. A file
  // uploaded over HTTP (kept in Config::uploads_dir) is deleted with its document.
  virtual cloister::Status DeleteDocument(int64_t document_id) = 0;

  // The library: top-level documents that finished ingesting (ready, partial or failed), newest
  // first, of the collections the caller may read (`total` counts those only).
  // kInvalidArgument for a negative offset or a limit outside 1..1000.
  virtual Result<DocumentList> ListDocuments(const Caller& caller, int64_t offset, int64_t limit) = 0;
  // kNotFound for an unknown id or a document the caller may not read (the same message).
  virtual Result<DocumentInfo> GetDocument(const Caller& caller, int64_t id) = 0;
  virtual Result<std::vector<PassageInfo>> DocumentPassages(const Caller& caller, int64_t id) = 0;
  // The file a document was read from, for download. kNotFound when the document is unknown or
  // its file is gone, or the caller may not read it; kInvalidArgument for an attachment or a
  // message inside a mailbox (they have no file of their own: download the message or mailbox).
  virtual Result<std::filesystem::path> OriginalFile(const Caller& caller, int64_t id) = 0;
  // kNotFound for an unknown job, or one of a collection the caller may not read.
  virtual Result<JobInfo> GetJob(const Caller& caller, int64_t id) = 0;

  // Vectors of `texts` from the configured embedding model (the OpenAI-compatible
  // /v1/embeddings), each L2-normalised, with the model's name and the tokens read.
  // `as_query` applies the model's query prefix, otherwise its document prefix. Only the texts
  // given are read, never stored chunks, so it needs no Caller.
  // kFailedPrecondition without an embedding model; kInvalidArgument for no texts.
  virtual Result<TextEmbeddings> Embed(const std::vector<std::string>& texts, bool as_query) = 0;
  // Takes a file already written to `staged` (moved, not copied) under the name the user gave
  // it: it is kept in Config::uploads_dir() and queued for ingestion into `collection` (empty:
  // the default collection) (the background workers take it, or the next Ingest call).
  // kInvalidArgument for a name with nothing usable in it; kPermissionDenied when the caller may
  // not write into the collection (a limited caller writes where it may read), or, for a limited
  // caller, when no such collection exists (the same message: names are not revealed);
  // kNotFound for an unknown collection otherwise.
  virtual Result<JobInfo> AddUpload(const Caller& caller, const std::filesystem::path& staged,
                                    const std::string& original_name,
                                    const std::string& collection = "") = 0;

  // Answers `question` from the documents: retrieval, then the chat model given the best
  // passages as numbered sources (streamed through `on_token`), or, without a chat model, the
  // best-matching sentences quoted; the passages come only from collections the caller may
  // read. Without relevant passages the answer says so and no model runs. kUnavailable when every generation slot and the queue are busy (retry later);
  // kInvalidArgument for an empty question.
  virtual Result<Answer> Ask(const Caller& caller, const std::string& question, const AskOptions& options,
                             const AnswerCallback& on_token = {}) = 0;

  // After the embedding model changed: gives every chunk a vector from the new model, then
  // switches search to it (see StatusReport::reembedding), calling `progress` after each batch.
  // Searches keep working meanwhile. Ok at once when there is nothing to re-embed.
  // StartBackground does the same on a thread of its own.
  virtual cloister::Status Reembed(const std::function<void(const StatusReport::Reembedding&)>& progress) = 0;

  // Copies what Cloister keeps into `dest` (created; it must not exist or be empty): the
  // catalog as of one instant (SQLite's online backup: searches and ingestion go on meanwhile),
  // the serving model's vector index, and the files uploaded over HTTP. Files in the inbox are
  // the user's and are not copied. An index copy a few documents ahead of or behind the catalog
  // copy is repaired from the stored embeddings when the backup is restored and opened.
  // kFailedPrecondition when `dest` is not empty or cannot be written.
  virtual Result<BackupReport> Backup(const std::filesystem::path& dest) = 0;

  // serve: resumes interrupted jobs, starts the ingestion workers and the watchers (the inbox,
  // for the default collection, and each collection's folder, as they are at this call), and
  // re-embeds in the background when the embedding model changed.
  // kFailedPrecondition when the inbox cannot be watched (a collection's folder that cannot be
  // is a warning in the log: the others are watched).
  virtual cloister::Status StartBackground() = 0;
  // Stops the watcher and the re-embedding (it resumes at the next start), lets running jobs
  // finish, stops the workers.
  virtual void StopBackground() = 0;
};

// Puts the backup in `src` (as KnowledgeBase::Backup wrote it) in place as config.data_dir's
// catalog, index and uploads. The service must be stopped. The backup's catalog is checked
// first (kDataLoss when damaged, nothing touched). When the data folder already has a catalog,
// `replace` moves the current catalog, index and uploads aside into
// data_dir/replaced-<time>/ (never deleted); without it that is kFailedPrecondition. Uploaded
// files restored into another data folder are found there (their paths are rewritten).
Result<BackupReport> RestoreBackup(const Config& config, const std::filesystem::path& src, bool replace);

// Search options with the configured fusion constant and weights (Config::retrieval).
SearchOptions SearchDefaults(const Config& config);

// Lists the models in `models_dir` (no catalog needed). With `try_load`, each is loaded through
// llama.cpp and `loads` says whether that worked.
std::vector<ModelEntry> ListModels(const std::filesystem::path& models_dir, bool try_load);

}  // namespace cloister::app
