// The catalog: Cloister's source of truth for collections, documents, chunks, embeddings and
// ingestion jobs, with BM25 search over chunk text.
//
//   CLOISTER_ASSIGN_OR_RETURN(Catalog catalog, Catalog::Open(data_dir / "catalog.db"));
//   CLOISTER_ASSIGN_OR_RETURN(int64_t doc_id, catalog.AddDocument(document));
//   CLOISTER_ASSIGN_OR_RETURN(auto chunk_ids, catalog.ReplaceChunks(doc_id, chunks));
//   CLOISTER_ASSIGN_OR_RETURN(auto hits, catalog.SearchLexical("refund policy", 10));
//
// Ids are SQLite rowids, positive. Chunk ids are never reused, so they serve as FAISS ids.
// Timestamps are unix seconds, set by the catalog. `metadata` fields hold a JSON object as text;
// invalid JSON is kInvalidArgument.
//
// Errors common to every method: kUnavailable when another process holds the write lock past
// the busy timeout (retry), kDataLoss when the file is damaged, kInternal for anything
// unexpected. Each method lists the others it returns.
//
// Thread safety: like Database, a Catalog is used by one thread at a time; open one per thread
// (WAL lets them read while one writes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/storage/sqlite.h"

namespace cloister::storage {

inline constexpr std::string_view kDefaultCollection = "default";

enum class DocumentStatus { kQueued, kReady, kPartial, kFailed };
enum class JobState { kQueued, kExtracting, kChunking, kEmbedding, kDone, kFailed };

// "queued", "ready", ...: the spelling stored in the database and used in JSON.
std::string_view DocumentStatusName(DocumentStatus status);
std::optional<DocumentStatus> ParseDocumentStatus(std::string_view name);
std::string_view JobStateName(JobState state);
std::optional<JobState> ParseJobState(std::string_view name);

struct Collection {
  int64_t id = 0;
  std::string name;    // unique, non-empty
  std::string folder;  // where its files come from; may be empty
  int64_t created_at = 0;
};

// ---- Accounts (who may use the service; see Catalog's Accounts section) ----
enum class Role { kAdmin, kUser };
// "admin", "user": the spelling stored and shown.
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

struct User {
  int64_t id = 0;
  std::string name;           // unique, non-empty
  Role role = Role::kUser;
  std::string password_hash;  // a crypto_pwhash_str string; "" means password login is off
  int64_t created_at = 0;
  bool disabled = false;      // a disabled user's keys and sessions authenticate nobody
};

struct ApiKey {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string user_name;  // filled by the readers
  std::string prefix;     // public, for display: which key this is
  int64_t created_at = 0;
  std::optional<int64_t> revoked_at;
  std::optional<int64_t> last_used_at;
};

struct Session {
  std::string token_hash;  // of the cookie's token; the token itself is never stored
  int64_t user_id = 0;
  std::string csrf_token;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct Document {
  int64_t id = 0;  // set by AddDocument; ignored on input
  int64_t collection_id = 0;
  std::optional<int64_t> parent_id;  // the message a mail attachment came from
  std::optional<int64_t> job_id;     // the ingestion job that wrote it, if any
  std::string path;                  // non-empty
  // Within its path: an attachment's file name, a mailbox message's "<file>#<n>"; may be empty.
  std::string name;
  std::string content_hash;  // of the original bytes
  std::string type;          // "pdf", "eml", "markdown", ...
  std::string title;
  std::string metadata = "{}";  // a JSON object
  DocumentStatus status = DocumentStatus::kQueued;
  std::string error;  // why it failed or is partial; empty otherwise
  int64_t size_bytes = 0;
  int64_t page_count = 0;
  int64_t created_at = 0;  // set by the catalog
  int64_t updated_at = 0;  // set by the catalog
};

// A document as the library lists it (Catalog::ListLibrary).
struct LibraryEntry {
  Document document;
  int64_t chunks = 0;       // its own passages
  int64_t attachments = 0;  // documents directly inside it
  std::string from;         // mail: sender, date, subject (metadata)
  std::string date;
  std::string subject;
};

struct DocumentListing {
  int64_t total = 0;
  std::vector<LibraryEntry> entries;
};

struct Chunk {
  int64_t id = 0;           // set by ReplaceChunks; ignored on input
  int64_t document_id = 0;  // set by ReplaceChunks; ignored on input
  int ordinal = 0;          // position in the document, >= 0, unique within it
  std::string text;
  std::optional<int> page_start;  // 1-based
  std::optional<int> page_end;    // >= page_start
  std::optional<std::string> heading;
  std::string metadata = "{}";  // a JSON object
};

// A document with its chunks and the documents inside it (a message's attachments, a mailbox's
// messages), stored together by AddDocumentTree.
struct DocumentTree {
  Document document;
  std::vector<Chunk> chunks;
  std::vector<DocumentTree> children;
};

// The deepest DocumentTree AddDocumentTree stores: a root alone has depth 1.
inline constexpr int kMaxDocumentTreeDepth = 64;

struct Embedding {
  int64_t chunk_id = 0;
  std::vector<float> vector;
};

struct Job {
  int64_t id = 0;
  std::string path;
  int64_t collection_id = 0;
  std::optional<int64_t> document_id;
  JobState state = JobState::kQueued;
  std::string error;
  int attempts = 0;  // times the job entered kExtracting
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct CatalogStats {
  int64_t collections = 0;
  std::map<DocumentStatus, int64_t> documents;  // every status present, zeros included
  int64_t chunks = 0;
  int64_t embeddings = 0;
  std::map<std::string, int64_t> embeddings_by_model;
  std::map<JobState, int64_t> jobs;  // every state present, zeros included
};

// The most chunk rows a lexical query's words may match before its most common words stop
// selecting candidates (see SearchLexical). FTS5 scores every row its MATCH finds, a few µs
// each on a 2-core server, and at a million chunks a question's words together match nearly
// all of them (3.6 s a query); below the budget ranking is FTS5's exact BM25.
inline constexpr int64_t kLexicalRowBudget = 50000;

// A distinct word of a query: folded as the index folds words, and as the user wrote it.
struct QueryWord {
  std::string folded;
  std::string text;
};

// What SearchLexical did with the query's words.
struct LexicalSearchInfo {
  std::vector<std::string> skipped_words;  // too common to match on, as the user wrote them
};

struct TermFrequencies {
  int64_t chunks = 0;                           // chunks in the catalog
  std::map<std::string, int64_t> frequencies;  // folded word -> chunks containing it
};

// Highlight markers around matched terms in LexicalHit::snippet.
inline constexpr std::string_view kSnippetOpen = "«";
inline constexpr std::string_view kSnippetClose = "»";

struct LexicalHit {
  int64_t chunk_id = 0;
  int64_t document_id = 0;
  std::string path;
  std::string title;
  std::optional<int> page;  // the chunk's first page
  std::string text;         // the whole chunk
  std::string snippet;      // about 24 tokens around the match, terms within « »
  double score = 0;         // BM25, higher is better, comparable within one query only
};

// Restricts search to some documents. Empty fields do not restrict. Attachments are judged by
// their own values, or their message's when they have none (an attached PDF has no sender).
struct ChunkFilter {
  std::vector<std::string> types;       // document types, e.g. {"pdf", "email"}
  std::string from_contains;            // mail sender contains this, case-insensitive
  std::string after;                    // document date (mail date or created), ISO 8601, >=
  std::string before;                   // ... <
  std::vector<int64_t> collection_ids;  // documents of these collections only (the user's choice)
  // The caller's permission, applied on top of every field above (collection_ids included, so
  // choosing collections can only narrow it): unset reads every collection, an empty list none.
  std::optional<std::vector<int64_t>> readable_collections;
  bool empty() const {
    return types.empty() && from_contains.empty() && after.empty() && before.empty() &&
           collection_ids.empty() && !readable_collections;
  }
};

// A chunk with what a search result shows of its document.
struct ChunkRef {
  int64_t chunk_id = 0;
  int64_t document_id = 0;
  int ordinal = 0;
  std::string text;
  std::optional<int> page_start;
  std::optional<int> page_end;
  std::string path;
  std::string title;
  std::string type;
  std::string name;
  std::optional<int64_t> parent_id;
  std::string metadata;  // the document's JSON metadata
  // Mail: sender, date (ISO 8601) and subject, an attachment's from its message; "" otherwise.
  std::string from;
  std::string date;
  std::string subject;
};

class Catalog {
 public:
  // Opens the database (see Database::Open for options and errors) and migrates it to
  // kSchemaVersion; read_only databases must already be current. Errors as in Migrate
  // (kFailedPrecondition for a newer or foreign database).
  static Result<Catalog> Open(const std::filesystem::path& path,
                              const OpenOptions& options = OpenOptions{});

  // ---- Collections ----
  // The id of the collection called `name`, created if missing; an existing collection's
  // folder is updated to `folder`. kInvalidArgument for an empty name.
  Result<int64_t> EnsureCollection(std::string_view name, std::string_view folder);
  // Ordered by id; "default" always exists.
  Result<std::vector<Collection>> ListCollections() const;

  // ---- Documents ----
  // Stores `document` (its id and timestamps are ignored) and returns the new id.
  // kInvalidArgument: empty path, negative size or page count, metadata not JSON.
  // kFailedPrecondition: the collection or parent document does not exist.
  Result<int64_t> AddDocument(const Document& document);
  // kNotFound when no document has that id.
  Result<Document> GetDocument(int64_t id) const;
  // The top-level document (then attachments) with that hash in the collection, the oldest
  // first; std::nullopt when there is none.
  Result<std::optional<Document>> FindDocumentByHash(int64_t collection_id,
                                                     std::string_view content_hash) const;
  // Likewise by path, across collections.
  Result<std::optional<Document>> FindDocumentByPath(std::string_view path) const;
  // Ordered by id. kInvalidArgument for a negative offset or a limit below 1.
  Result<std::vector<Document>> ListDocuments(int64_t offset, int64_t limit) const;
  // A page of the library: top-level documents that are not being written (status other than
  // kQueued), newest first, with their chunk and attachment counts and mail fields; `total`
  // counts them all. With `collections`, only the documents of those collections are listed and
  // counted (empty: none). kInvalidArgument for a negative offset or a limit below 1.
  Result<DocumentListing> ListLibrary(
      int64_t offset, int64_t limit,
      const std::optional<std::vector<int64_t>>& collections = std::nullopt) const;
  // Overwrites every field but id and created_at. Errors as AddDocument, plus kNotFound.
  Status UpdateDocument(const Document& document);
  // kNotFound when no document has that id.
  Status UpdateDocumentStatus(int64_t id, DocumentStatus status, std::string_view error = {});
  // Removes the document, its attachments, their chunks (and so their FTS entries) and
  // embeddings; jobs keep their history with document_id cleared. kNotFound when missing.
  Status DeleteDocument(int64_t id);
  // Top-level documents (parent_id unset) with that hash in the collection, any status, oldest
  // first.
  Result<std::vector<Document>> DocumentsWithHash(int64_t collection_id,
                                                  std::string_view content_hash) const;
  // Top-level documents at exactly that path, across collections, oldest first.
  Result<std::vector<Document>> DocumentsAtPath(std::string_view path) const;

  // ---- Ingestion ----
  // Stores `tree` in one transaction and returns the root's id: the root document (its
  // parent_id as given), its chunks, then each child, recursively, with parent_id set to its
  // parent's new id; a child without a job_id takes its parent's. Chunk ids, in the order given,
  // can be read back with GetChunks. On any error nothing is stored.
  // kInvalidArgument: the tree is deeper than kMaxDocumentTreeDepth, or a document or chunk is
  // malformed (as in AddDocument and ReplaceChunks; the message names it).
  // kFailedPrecondition: a collection, job or the root's parent does not exist.
  Result<int64_t> AddDocumentTree(const DocumentTree& tree);
  // Completes a job's ingestion of `path` in one transaction: (a) deletes every top-level
  // document at `path` that the job did not write (job_id unset or another job), with its
  // attachments, chunks, FTS entries and embeddings; (b) the job's documents still kQueued become
  // kPartial when their error is non-empty, else kReady (updated_at refreshed). The job's
  // kFailed documents stay failed. The vectors of deleted chunks are the caller's to drop: read
  // their ids first with ChunkIdsReplacedByJob (chunk ids are never reused, so a vector left
  // behind never matches a live chunk).
  // kInvalidArgument for an empty path, kNotFound when the job does not exist.
  Status FinalizeJobDocuments(int64_t job_id, std::string_view path);
  // Deletes the job's documents still kQueued (left by an interrupted attempt), with everything
  // inside them, and returns how many document rows went, attachments included.
  // kNotFound when the job does not exist.
  Result<int> DiscardJobDocuments(int64_t job_id);
  // Every document (top-level and attachments) whose path is exactly `old_path` moves to
  // `new_path`; returns how many rows changed. kInvalidArgument for an empty path.
  Result<int> RenameDocuments(std::string_view old_path, std::string_view new_path);
  // A folder moved: every path under `old_dir` (starting with old_dir + "/"; a trailing '/' on
  // either directory is allowed) gets that prefix replaced by new_dir's. Paths are compared as
  // bytes: '%' and '_' are ordinary characters, and "/in" does not cover "/inbox/a". Returns how
  // many rows changed. kInvalidArgument for an empty directory.
  Result<int> RenameDocumentsUnder(std::string_view old_dir, std::string_view new_dir);
  // The same for the paths of jobs, finished or not (a restored backup in another data folder).
  Result<int> RenameJobsUnder(std::string_view old_dir, std::string_view new_dir);
  // Deletes the top-level documents at exactly `path` with everything inside them; returns how
  // many top-level documents went.
  Result<int> DeleteDocumentsAtPath(std::string_view path);
  // Likewise for every top-level document under `dir` (the prefix rule of
  // RenameDocumentsUnder). kInvalidArgument for an empty directory.
  Result<int> DeleteDocumentsUnder(std::string_view dir);
  // The chunk ids DeleteDocumentsAtPath(path) would delete: those of the top-level documents at
  // `path` and of every document inside them, ascending.
  Result<std::vector<int64_t>> ChunkIdsAtPath(std::string_view path) const;
  // Likewise for DeleteDocumentsUnder(dir). kInvalidArgument for an empty directory.
  Result<std::vector<int64_t>> ChunkIdsUnder(std::string_view dir) const;
  // The chunk ids FinalizeJobDocuments(job_id, path) would delete, ascending.
  Result<std::vector<int64_t>> ChunkIdsReplacedByJob(int64_t job_id, std::string_view path) const;

  // ---- Chunks ----
  // Replaces all of the document's chunks with `chunks` in one transaction and returns the new
  // ids in the order given. On any error nothing changes.
  // kNotFound: no such document. kInvalidArgument: a chunk is malformed (duplicate or negative
  // ordinal, page_end before page_start, page below 1, metadata not JSON); the message names it.
  Result<std::vector<int64_t>> ReplaceChunks(int64_t document_id, const std::vector<Chunk>& chunks);
  // Ordered by ordinal; empty when the document has none (or does not exist).
  Result<std::vector<Chunk>> GetChunks(int64_t document_id) const;
  // kNotFound when no chunk has that id.
  Result<Chunk> GetChunk(int64_t chunk_id) const;

  // ---- Embeddings ----
  // Stores (or overwrites) one vector per chunk for `model_id`, all in one transaction; on any
  // error nothing changes. Vectors are float32, little-endian on disk, returned bit for bit.
  // kInvalidArgument: empty model_id, an empty vector, or vectors of different lengths.
  // kFailedPrecondition: the model already has vectors of another dimension.
  // kNotFound: a chunk id does not exist (named in the message).
  Status PutEmbeddings(std::string_view model_id, const std::vector<Embedding>& embeddings);
  // kNotFound when the chunk has no vector for that model.
  Result<std::vector<float>> GetEmbedding(int64_t chunk_id, std::string_view model_id) const;
  // Calls `fn` for each of the model's vectors in chunk id order, streaming (one row in memory
  // at a time). The span is valid only during the call. A non-ok Status from `fn` stops the
  // scan and is returned.
  Status ForEachEmbedding(
      std::string_view model_id,
      const std::function<Status(int64_t chunk_id, std::span<const float>)>& fn) const;
  // The model's vectors for chunk ids above `after_id`, at most `limit`, in chunk id order: a
  // page of ForEachEmbedding for callers that pull (index builds).
  Result<std::vector<Embedding>> EmbeddingsAfter(std::string_view model_id, int64_t after_id,
                                                 int limit) const;
  // Up to `limit` chunks (id and text; any document status) with an id above `after_id` that
  // have no vector for `model_id`, by id: the work list of a re-embedding.
  Result<std::vector<Chunk>> ChunksMissingEmbedding(std::string_view model_id, int64_t after_id,
                                                    int limit) const;
  // How many chunks have no vector for `model_id`.
  Result<int64_t> CountChunksMissingEmbedding(std::string_view model_id) const;
  // Drops the vectors of every model but `keep_model_id`; returns how many were removed.
  Result<int64_t> DeleteEmbeddingsExcept(std::string_view keep_model_id);

  // ---- Settings ----
  // Catalog-wide values by key; std::nullopt when the key was never set.
  Result<std::optional<std::string>> GetSetting(std::string_view key) const;
  // kInvalidArgument for an empty key.
  Status SetSetting(std::string_view key, std::string_view value);

  // ---- Jobs ----
  // A new job in kQueued. kInvalidArgument for an empty path, kFailedPrecondition when the
  // collection does not exist.
  Result<int64_t> EnqueueJob(std::string_view path, int64_t collection_id);
  // Moves the job to `state` with `error` (cleared when empty); entering kExtracting counts an
  // attempt. kNotFound when no job has that id.
  Status SetJobState(int64_t id, JobState state, std::string_view error = {});
  // Links the job to the document it produced. kNotFound for a missing job,
  // kFailedPrecondition for a missing document.
  Status SetJobDocument(int64_t id, int64_t document_id);
  // Ordered by id; only jobs in `state` when given.
  Result<std::vector<Job>> ListJobs(std::optional<JobState> state = std::nullopt) const;
  // kNotFound when no job has that id.
  Result<Job> GetJob(int64_t id) const;
  // Takes the oldest kQueued job for this worker: in one write transaction it moves to
  // kExtracting (an attempt counted, updated_at refreshed) and is returned as stored;
  // std::nullopt when none is queued. Workers with their own connections (threads or
  // processes) never claim the same job.
  Result<std::optional<Job>> ClaimNextJob();
  // The oldest job for exactly this path still queued, extracting, chunking or embedding;
  // std::nullopt when there is none (so the path may be enqueued).
  Result<std::optional<Job>> FindUnfinishedJob(std::string_view path) const;
  // For crash recovery: jobs caught in extracting, chunking or embedding go back to queued.
  // Returns how many were moved.
  Result<int> ResetUnfinishedJobs();

  // ---- Accounts ----
  // Secrets arrive already hashed (the caller owns the KDF); the catalog stores and finds them.
  // A new user; returns the id. kInvalidArgument for an empty name, kFailedPrecondition when a
  // user of that name exists.
  Result<int64_t> AddUser(std::string_view name, Role role, std::string_view password_hash);
  // kNotFound for an unknown name or id.
  Result<User> GetUser(std::string_view name) const;
  Result<User> GetUserById(int64_t id) const;
  // Ordered by name.
  Result<std::vector<User>> ListUsers() const;
  // Replaces the password hash and ends every session of the user. kNotFound for an unknown name.
  Status SetUserPassword(std::string_view name, std::string_view password_hash);
  Status SetUserDisabled(std::string_view name, bool disabled);
  Status SetUserRole(std::string_view name, Role role);
  // Removes the user with their API keys, sessions and grants. kNotFound for an unknown name.
  Status DeleteUser(std::string_view name);

  // A key for the user; returns its id. kInvalidArgument for an empty hash, kFailedPrecondition
  // for an unknown user or a hash already stored.
  Result<int64_t> AddApiKey(int64_t user_id, std::string_view key_hash, std::string_view prefix);
  // The key with that hash, revoked ones included; std::nullopt when none has it.
  Result<std::optional<ApiKey>> FindApiKey(std::string_view key_hash) const;
  // Ordered by id; only the user's when given.
  Result<std::vector<ApiKey>> ListApiKeys(std::optional<int64_t> user_id = std::nullopt) const;
  // Marks the key revoked at `now` (revoking twice keeps the first time). kNotFound for an
  // unknown id.
  Status RevokeApiKey(int64_t id, int64_t now);
  // Records a use. kNotFound for an unknown id.
  Status TouchApiKey(int64_t id, int64_t now);

  // kInvalidArgument for an empty token hash, kFailedPrecondition for an unknown user or a
  // token hash already stored.
  Status AddSession(const Session& session);
  // The session with that token hash, expired or not; std::nullopt when none.
  Result<std::optional<Session>> FindSession(std::string_view token_hash) const;
  // kNotFound when no session has that hash.
  Status ExtendSession(std::string_view token_hash, int64_t expires_at);
  // Ok whether or not it existed (logging out twice is not an error).
  Status DeleteSession(std::string_view token_hash);
  // Removes sessions that expired before `now`; returns how many.
  Result<int> DeleteExpiredSessions(int64_t now);

  // Grants the user read access to the collection (granting twice is Ok). kFailedPrecondition
  // for an unknown user or collection.
  Status GrantCollection(int64_t user_id, int64_t collection_id);
  // kNotFound when the user had no such grant.
  Status RevokeCollection(int64_t user_id, int64_t collection_id);
  // The ids of the collections granted to the user, ascending.
  Result<std::vector<int64_t>> UserCollections(int64_t user_id) const;

  // ---- Overview and search ----
  Result<CatalogStats> Stats() const;
  // The same figures for the documents, chunks, embeddings and jobs of these collections only
  // (`collections` counts them): what a reader limited to them may know.
  Result<CatalogStats> StatsOf(const std::vector<int64_t>& collection_ids) const;
  // Up to `k` chunks matching any word of `user_query`, best first, from documents that are
  // kReady or kPartial only (one being ingested, or failed, is invisible). The text is only ever
  // searched for, never read as FTS5 syntax (see FtsMatchExpression); a query with no words is
  // an empty result. Words are found in every language, those written without spaces included
  // ("北京" finds "我们明天在北京开会"); matching folds case ("Straße" finds "STRASSE") and
  // diacritics ("cafe" finds "café", Arabic without harakat finds it with them), but does not
  // stem ("бюджет" does not find "бюджета"). kInvalidArgument when k < 1.
  // Words are joined with OR, but when together they occur in more than `row_budget` chunks
  // the most common stop selecting candidates (the rarest always selects; `info` names the
  // others): the rarer words find 4k (at least 100) candidates, and these are ranked by BM25
  // over every word of the query, the scores FTS5's bm25() would give. A chunk holding only
  // the common words is no longer found: at a million chunks "the" or "what" would make BM25
  // score nearly every chunk, for a weight in the score close to nothing.
  Result<std::vector<LexicalHit>> SearchLexical(std::string_view user_query, int k,
                                                const ChunkFilter& filter = {},
                                                LexicalSearchInfo* info = nullptr,
                                                int64_t row_budget = kLexicalRowBudget) const;
  // How many chunks contain each of `folded_words` (as FoldedWords gives them; any document
  // status), and how many chunks there are: the document frequencies that weigh words by
  // rarity (a question's "the" against its "indemnity"). Words no chunk has map to 0.
  Result<TermFrequencies> CountTermFrequencies(const std::vector<std::string>& folded_words);
  // Chunks in the catalog, any status; cached until this or another connection changes the
  // database.
  Result<int64_t> ChunkCount() const;
  // Of `chunk_ids`, those of visible (ready or partial) documents that pass `filter`, in the
  // given order; unknown ids are skipped. For vector hits, whose index knows no documents.
  Result<std::vector<ChunkRef>> VisibleChunks(const std::vector<int64_t>& chunk_ids,
                                              const ChunkFilter& filter = {}) const;
  // The chunks of visible (ready or partial) documents in these collections, ascending: the
  // chunk ids a reader limited to them may find (vector search's filter). Empty for no ids.
  Result<std::vector<int64_t>> VisibleChunkIdsIn(const std::vector<int64_t>& collection_ids) const;
  // The chunks of this job's documents still being ingested (status queued), by id: the
  // pipeline embeds them before FinalizeJobDocuments makes them visible.
  Result<std::vector<Chunk>> ChunksOfJob(int64_t job_id) const;
  // Chunk ids of the document and all its descendants (what DeleteDocument removes).
  Result<std::vector<int64_t>> ChunkIdsOfDocument(int64_t document_id) const;
  // The chunk of `document_id` at `ordinal`, if any (neighbour merging).
  Result<std::optional<ChunkRef>> ChunkAt(int64_t document_id, int ordinal) const;

  // The path the catalog was opened from.
  const std::filesystem::path& path() const { return db_.path(); }

  // ---- Backup ----
  // The catalog as of one instant, copied to `dest` while others keep reading and writing
  // (Database::BackupTo).
  Status BackupTo(const std::filesystem::path& dest) const { return db_.BackupTo(dest); }
  // Whether the file at `path` is a sound catalog this version can open: SQLite's
  // integrity_check passes and the schema is not newer than ours. kDataLoss naming the first
  // problem found; kNotFound for a missing file; kFailedPrecondition for a newer schema.
  static Status Check(const std::filesystem::path& path);

 private:
  explicit Catalog(Database db) : db_(std::move(db)) {}
  // Chunks containing each word (FTS5's vocabulary, any document status), in order.
  Result<std::vector<int64_t>> DocumentFrequencies(const std::vector<std::string>& folded_words) const;
  // Tokens per chunk on average, from FTS5's own totals; cached like ChunkCount.
  Result<double> AverageChunkTokens() const;
  // Gives `hits` their BM25 over every one of `words` (with `df`, their document frequencies)
  // and sorts them by it: candidates found by the rarer words, ranked by all of them.
  Status RescoreWithAllWords(const std::vector<QueryWord>& words, const std::vector<int64_t>& df,
                             std::vector<LexicalHit>* hits) const;

  Database db_;
  // ChunkCount's cache: (data_version, count) and this connection's total changes then.
  mutable std::optional<std::pair<int64_t, int64_t>> chunk_count_;
  mutable int64_t chunk_count_changes_ = 0;
  mutable std::optional<std::pair<int64_t, double>> average_tokens_;
  mutable int64_t average_tokens_changes_ = 0;
};

// The most words of a query that SearchLexical uses; later ones are ignored.
inline constexpr size_t kMaxQueryTerms = 64;

// The words of `user_query` as FtsMatchExpression splits it (distinct, at most kMaxQueryTerms).
Result<std::vector<QueryWord>> QueryWords(std::string_view user_query);
// The OR of `words`, each an FTS5 string ("" for none).
std::string FtsMatchExpression(const std::vector<QueryWord>& words);
// Of `words` (with `frequencies`, the chunks containing each), the rarest whose frequencies sum
// to at most `budget`, in query order; the rarest word is kept whatever its frequency. Words
// with frequency 0 are dropped; the others left out are appended to `skipped`.
std::vector<QueryWord> WordsWithinBudget(const std::vector<QueryWord>& words,
                                         const std::vector<int64_t>& frequencies, int64_t budget,
                                         std::vector<std::string>* skipped);

// Turns a user's text into an FTS5 MATCH expression that cannot be read as FTS5 syntax: the text
// is split into words by the same ICU word segmentation that indexes chunks, so "東京都の天気"
// gives several words and "e-mail" gives "e" and "mail"; spaces, punctuation, symbols and emoji
// (such as "(((" or "*") are dropped; each word becomes an FTS5 string (an embedded '"' doubled);
// repeats are dropped (compared case- and diacritic-folded, the first spelling kept), at most
// kMaxQueryTerms are kept, and they are joined with OR. "" when the text holds no word.
// kInternal only if ICU itself fails.
Result<std::string> FtsMatchExpression(std::string_view user_query);

// The words of `text` as full-text search sees them (segmented and folded by cloister_icu), in
// order, repeats kept. kInternal only if ICU itself fails.
Result<std::vector<std::string>> FoldedWords(std::string_view text);

}  // namespace cloister::storage
