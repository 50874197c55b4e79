#include "cloister/app/knowledge_base.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <system_error>
#include <thread>

#include "cloister/core/files.h"
#include "cloister/core/log.h"
#include "cloister/core/version.h"
#include "cloister/embed/embedder.h"
#include "cloister/generate/engine.h"
#include "cloister/index/vector_index.h"
#include "cloister/storage/catalog.h"
#include "answer_text.h"
#include "catalog_readers.h"
#include "collections.h"
#include "pipeline.h"
#include "retriever.h"
#include "watcher.h"

namespace cloister::app {
namespace fs = std::filesystem;
namespace {

// The first model of each kind (by file name) is the one in use.
std::optional<ModelEntry> FirstOfKind(const std::vector<ModelEntry>& models, const std::string& kind) {
  for (const auto& m : models) {
    if (m.kind == kind) return m;
  }
  return std::nullopt;
}

bool Hidden(const fs::path& p) {
  std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// Files under the given paths, absolute, in a stable order. kNotFound names a missing path.
Result<std::vector<fs::path>> ExpandPaths(const std::vector<fs::path>& paths) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& given : paths) {
    if (!fs::exists(given, ec)) return NotFound("no such file or folder: " + given.string());
    fs::path p = fs::canonical(given, ec);
    if (!fs::is_directory(p, ec)) {
      files.push_back(p);
      continue;
    }
    for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
      if (Hidden(it->path())) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

IngestedFile ToIngested(const JobOutcome& o) {
  return {o.path, o.ok, o.error, o.note, o.documents, o.chunks, o.pages, o.document_ids};
}

// The chat model loaded here, through generate::Engine.
class LocalChat final : public ChatBackend {
 public:
  LocalChat(std::unique_ptr<generate::Engine> engine, std::string name)
      : engine_(std::move(engine)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  uint32_t context_tokens() const override { return engine_->context_tokens(); }
  uint32_t CountTokens(std::string_view text) const override { return engine_->CountTokens(text); }
  Result<ChatReply> Chat(const ChatRequest& chat, const AnswerCallback& on_token) override {
    generate::Request request;
    for (const auto& m : chat.messages) request.messages.push_back({m.role, m.content});
    request.options.max_tokens = chat.max_tokens;
    request.options.temperature = chat.temperature;
    if (chat.seed) request.options.seed = *chat.seed;
    request.cancel = chat.cancel;
    CLOISTER_ASSIGN_OR_RETURN(generate::Generation g, engine_->Generate(request, on_token));
    ChatReply reply;
    reply.text = std::move(g.text);
    reply.prompt_tokens = g.prompt_tokens;
    reply.generated_tokens = g.generated_tokens;
    reply.first_token_seconds = g.first_token_seconds;
    switch (g.stop) {
      case generate::StopReason::kEndOfText: case generate::StopReason::kStopString: reply.stop = "end"; break;
      case generate::StopReason::kMaxTokens: reply.stop = "max_tokens"; break;
      case generate::StopReason::kContextFull: reply.stop = "context_full"; break;
      case generate::StopReason::kCancelled: reply.stop = "cancelled"; break;
    }
    return reply;
  }

 private:
  std::unique_ptr<generate::Engine> engine_;
  std::string name_;
};

// The data folder a backup was taken from, recorded in the backup's catalog.
constexpr std::string_view kBackupDataDirSetting = "backup_data_dir";

// Copies `from` to `to` (parents created), counting it in `report`.
cloister::Status CopyInto(const fs::path& from, const fs::path& to, BackupReport* report) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (!ec) fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return FailedPrecondition("cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
  ++report->files;
  report->bytes += static_cast<int64_t>(fs::file_size(to, ec));
  return cloister::Status::Ok();
}

class KnowledgeBaseImpl final : public KnowledgeBase {
 public:
  KnowledgeBaseImpl(Config config, storage::Catalog catalog, std::shared_ptr<ChatBackend> chat)
      : config_(std::move(config)), catalog_(std::move(catalog)), chat_(std::move(chat)), chat_checked_(chat_ != nullptr) {}
  ~KnowledgeBaseImpl() override { StopBackground(); }

  const Config& config() const override { return config_; }

  Result<StatusReport> Status(const Caller& caller) override {
    StatusReport r;
    r.version = std::string(Version());
    r.data_dir = config_.data_dir;
    CLOISTER_ASSIGN_OR_RETURN(Readable readable, ReadableBy(caller));
    std::map<std::string, int64_t> vectors;  // by model, of what the caller may read
    CLOISTER_RETURN_IF_ERROR(FillCatalogFigures(readable, &r, &vectors));
    auto vectors_of = [&](const std::string& model) { return vectors.count(model) ? vectors.at(model) : 0; };
    std::vector<ModelEntry> models = ListModels(config_.models_dir, /*try_load=*/false);
    r.embedding_model = FirstOfKind(models, "embedding");
    r.chat_model = FirstOfKind(models, "chat");
    {
      std::lock_guard chat_lock(chat_mu_);
      if (chat_ && !chat_local_) {
        ModelEntry remote;
        remote.name = chat_->name();
        remote.kind = "chat";
        remote.architecture = "remote";
        remote.context_length = chat_->context_tokens();
        r.chat_model = remote;
      }
    }
    r.answer_mode = r.chat_model ? "generated" : "extractive";
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(std::optional<std::string> active, catalog_.GetSetting(kActiveModelSetting));
    // A model's vectors are stored under its id (its file name, see embed::ModelId).
    std::string target_id = r.embedding_model
        ? embed::ModelId(r.embedding_model->path,
                         embed::PrefixesFor(r.embedding_model->name, r.embedding_model->architecture),
                         config_.retrieval.document_prefix)
        : "";
    if (r.embedding_model && active && *active != target_id) {
      StatusReport::Reembedding re;
      re.from = *active;
      re.to = target_id;
      re.total = r.chunks;
      if (readable) {
        re.done = vectors_of(re.to);
      } else {
        CLOISTER_ASSIGN_OR_RETURN(int64_t missing, catalog_.CountChunksMissingEmbedding(re.to));
        re.done = r.chunks - missing;
      }
      re.old_vectors_serve = std::any_of(models.begin(), models.end(), [&](const auto& m) {
        return m.kind == "embedding" && m.path.filename() == re.from.substr(0, re.from.find('#'));
      });
      r.reembedding = re;
    }
    bool vectors_serve = r.embedding_model && (!r.reembedding || r.reembedding->old_vectors_serve);
    r.retrieval_mode = vectors_serve ? "hybrid" : "lexical";
    if (retriever_ && retriever_->semantic()) {
      r.index_kind = retriever_->index_kind();
      r.index_size = retriever_->index_size();
      // A limited caller learns how many of the vectors are its own, never the index's size.
      if (readable) r.index_size = active ? vectors_of(*active) : 0;
    } else if (auto on_disk = active ? index::VectorIndex::Load(config_.index_path(*active))
                                     : Result<std::unique_ptr<index::VectorIndex>>(NotFound("no index"));
               on_disk.ok()) {
      r.index_kind = (*on_disk)->kind();
      r.index_size = (*on_disk)->size();
      if (readable) r.index_size = vectors_of(*active);
    } else {
      r.index_kind = "none";
    }
    return r;
  }

  Result<IngestReport> Ingest(const std::vector<fs::path>& paths,
                              const std::function<void(const IngestProgress&)>& progress) override {
    auto start = std::chrono::steady_clock::now();
    CLOISTER_ASSIGN_OR_RETURN(std::vector<fs::path> files, ExpandPaths(paths));
    CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> ids, EnqueueAll(files));
    CLOISTER_RETURN_IF_ERROR(EnsurePipeline());
    PipelineCounters before = pipeline_->counters();
    pipeline_->Notify();
    auto tick = [&] {
      if (!progress) return;
      PipelineCounters now = pipeline_->counters();
      IngestProgress p;
      p.files_total = static_cast<int64_t>(ids.size());
      p.files_done = (now.files_done - before.files_done) + (now.files_failed - before.files_failed);
      p.files_failed = now.files_failed - before.files_failed;
      p.pages = now.pages - before.pages;
      p.chunks = now.chunks - before.chunks;
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress(p);
    };
    std::vector<JobOutcome> outcomes = pipeline_->WaitFor(ids, tick);
    tick();
    {
      std::lock_guard lock(mu_);
      if (cloister::Status kept = retriever_->Maintain(catalog_); !kept.ok()) {
        log::Warn("index", "vector index not maintained or saved; it is checked again at the next start",
                  {{"error", kept.message()}});
      }
    }
    IngestReport report;
    for (const auto& o : outcomes) {
      report.documents += o.documents;
      report.chunks += o.chunks;
      report.pages += o.pages;
      (o.ok ? report.ingested : report.failed).push_back(ToIngested(o));
    }
    return report;
  }

  Result<SearchResults> Search(const Caller& caller, const std::string& query, int k) override {
    SearchOptions options = SearchDefaults(config_);
    options.k = k;
    return Search(caller, query, options);
  }

  Result<TextEmbeddings> Embed(const std::vector<std::string>& texts, bool as_query) override {
    {
      std::lock_guard lock(mu_);
      CLOISTER_RETURN_IF_ERROR(EnsureRetrieverLocked());
    }
    return retriever_->EmbedTexts(texts, as_query);
  }

  Result<SearchResults> Search(const Caller& caller, const std::string& query,
                               const SearchOptions& options) override {
    {
      std::lock_guard lock(mu_);
      CLOISTER_RETURN_IF_ERROR(EnsureRetrieverLocked());
    }
    CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
    CLOISTER_ASSIGN_OR_RETURN(Readable readable, ReadableBy(*reader, caller));
    return retriever_->Search(*reader, query, options, readable);
  }

  Result<Answer> Ask(const Caller& caller, const std::string& question, const AskOptions& options,
                     const AnswerCallback& on_token) override {
    auto started = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
    if (question.find_first_not_of(" \t\r\n") == std::string::npos) return InvalidArgument("ask needs a question");
    if (options.k < 1) return InvalidArgument("k must be at least 1, got " + std::to_string(options.k));
    Answer answer;
    // A follow-up ("and in 2023?") is searched together with the question before it.
    answer.search_query = question;
    for (auto it = options.history.rbegin(); it != options.history.rend(); ++it) {
      if (it->role == "user") {
        answer.search_query = it->content + "\n" + question;
        break;
      }
    }
    SearchOptions search = SearchDefaults(config_);
    search.k = options.k;
    search.filters = options.filters;
    CLOISTER_ASSIGN_OR_RETURN(SearchResults found, Search(caller, answer.search_query, search));
    answer.search_mode = found.mode;

    CLOISTER_ASSIGN_OR_RETURN(std::vector<std::string> words, storage::FoldedWords(question));
    storage::TermFrequencies tf;
    {
      CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
      CLOISTER_ASSIGN_OR_RETURN(tf, reader->CountTermFrequencies(words));
    }
    EvidenceScorer scorer(words, tf.frequencies, tf.chunks);
    auto fold = [](std::string_view text) {
      auto folded = storage::FoldedWords(text);
      return folded.ok() ? *folded : std::vector<std::string>();
    };
    double best = 0;
    for (const auto& hit : found.results) best = std::max(best, scorer.Coverage(fold(hit.text)));
    answer.evidence = !found.results.empty() &&
                      (config_.answer.min_evidence <= 0 || !scorer.has_content_words() ||
                       best >= config_.answer.min_evidence);

    CLOISTER_ASSIGN_OR_RETURN(std::shared_ptr<ChatBackend> engine, EnsureChatModel());
    answer.mode = engine ? "generated" : "extractive";
    auto no_evidence = [&]() -> Result<Answer> {
      answer.evidence = false;
      answer.text = std::string(NoEvidenceAnswer());
      answer.sentences = {{answer.text, {}}};
      if (on_token) on_token(answer.text);
      answer.seconds = elapsed();
      return answer;
    };
    if (!answer.evidence) return no_evidence();

    ResolvedAnswer resolved;
    std::vector<SearchHit> given;
    if (!engine) {
      given = found.results;
      resolved = ExtractAnswer(given, scorer, fold, config_.answer.extractive_sentences);
      if (resolved.sentences.empty()) return no_evidence();
      if (on_token) on_token(resolved.text);
    } else {
      uint32_t max_tokens = options.max_tokens.value_or(config_.answer.max_tokens);
      int64_t context = engine->context_tokens();
      auto count = [&](std::string_view text) { return static_cast<int64_t>(engine->CountTokens(text)); };
      // The answer's room, the fixed parts, and some for the template's own tokens.
      int64_t budget = context - max_tokens - count(AnswerSystemPrompt()) - count(question) - 64 -
                       count("Sources:\n\nQuestion: ");
      std::vector<ChatTurn> history;
      int64_t history_budget = std::max<int64_t>(0, budget / 4);
      for (auto it = options.history.rbegin(); it != options.history.rend(); ++it) {
        if (it->role != "user" && it->role != "assistant") continue;
        int64_t cost = count(it->content) + 8;
        if (cost > history_budget) break;
        history_budget -= cost;
        budget -= cost;
        history.insert(history.begin(), *it);
      }
      if (budget <= 0) {
        return InvalidArgument("the question leaves no room for sources in the chat model's context of " +
                               std::to_string(context) + " tokens; ask a shorter question or raise the context");
      }
      given = FitSources(found.results, budget, count);
      if (given.empty()) return no_evidence();
      ChatRequest request;
      request.messages.push_back({"system", std::string(AnswerSystemPrompt())});
      request.messages.insert(request.messages.end(), history.begin(), history.end());
      request.messages.push_back({"user", SourcesMessage(given, question)});
      request.max_tokens = max_tokens;
      request.temperature = options.temperature.value_or(config_.answer.temperature);
      request.seed = options.seed;
      request.cancel = options.cancel;
      CLOISTER_ASSIGN_OR_RETURN(ChatReply reply, engine->Chat(request, on_token));
      resolved = ResolveCitations(reply.text, static_cast<int>(given.size()));
      answer.prompt_tokens = reply.prompt_tokens;
      answer.generated_tokens = reply.generated_tokens;
      answer.first_token_seconds = reply.first_token_seconds;
      answer.stop = reply.stop;
    }
    answer.passages_considered = static_cast<int>(given.size());
    answer.text = std::move(resolved.text);
    answer.sentences = std::move(resolved.sentences);
    std::vector<int> cited = resolved.cited;
    std::sort(cited.begin(), cited.end());
    for (int n : cited) answer.sources.push_back({n, given[static_cast<size_t>(n - 1)]});
    answer.seconds = elapsed();
    return answer;
  }

  Result<DocumentList> ListDocuments(const Caller& caller, int64_t offset, int64_t limit) override {
    if (limit < 1 || limit > 1000) return InvalidArgument("limit must be from 1 to 1000, got " + std::to_string(limit));
    CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
    CLOISTER_ASSIGN_OR_RETURN(Readable readable, ReadableBy(*reader, caller));
    CLOISTER_ASSIGN_OR_RETURN(storage::DocumentListing listing, reader->ListLibrary(offset, limit, readable));
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> collections, reader->ListCollections());
    DocumentList out;
    out.total = listing.total;
    for (auto& e : listing.entries) {
      DocumentInfo d = ToInfo(e.document);
      d.collection = NameOf(collections, e.document.collection_id);
      d.chunks = e.chunks;
      d.attachments = e.attachments;
      d.from = e.from;
      d.date = e.date;
      d.subject = e.subject;
      out.documents.push_back(std::move(d));
    }
    return out;
  }

  Result<DocumentInfo> GetDocument(const Caller& caller, int64_t id) override {
    CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
    CLOISTER_ASSIGN_OR_RETURN(storage::Document doc, ReadableDocument(*reader, caller, id));
    DocumentInfo d = ToInfo(doc);
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> collections, reader->ListCollections());
    d.collection = NameOf(collections, doc.collection_id);
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Chunk> chunks, reader->GetChunks(id));
    d.chunks = static_cast<int64_t>(chunks.size());
    if (!chunks.empty()) {
      CLOISTER_ASSIGN_OR_RETURN(auto refs, reader->VisibleChunks({chunks.front().id}));
      if (!refs.empty()) {
        d.from = refs.front().from;
        d.date = refs.front().date;
        d.subject = refs.front().subject;
      }
    }
    return d;
  }

  Result<std::vector<PassageInfo>> DocumentPassages(const Caller& caller, int64_t id) override {
    CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
    CLOISTER_RETURN_IF_ERROR(ReadableDocument(*reader, caller, id).status());
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Chunk> chunks, reader->GetChunks(id));
    std::vector<PassageInfo> out;
    for (auto& c : chunks) out.push_back({c.id, c.ordinal, c.page_start, std::move(c.text)});
    return out;
  }

  Result<fs::path> OriginalFile(const Caller& caller, int64_t id) override {
    CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
    CLOISTER_ASSIGN_OR_RETURN(storage::Document doc, ReadableDocument(*reader, caller, id));
    // Attachments have a parent; a mailbox's messages are named "<file>#<n>" within it.
    if (doc.parent_id || (!doc.name.empty() && doc.name != fs::path(doc.path).filename().string())) {
      return InvalidArgument("document " + std::to_string(id) + " is inside " + doc.path +
                             " and has no file of its own; download that one");
    }
    std::error_code ec;
    if (!fs::is_regular_file(doc.path, ec)) return NotFound("the file of document " + std::to_string(id) + " is gone: " + doc.path);
    return fs::path(doc.path);
  }

  Result<JobInfo> GetJob(const Caller& caller, int64_t id) override {
    CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
    CLOISTER_ASSIGN_OR_RETURN(storage::Job job, reader->GetJob(id));
    CLOISTER_ASSIGN_OR_RETURN(Readable readable, ReadableBy(*reader, caller));
    if (!Reads(readable, job.collection_id)) return NotFound("job " + std::to_string(id) + " does not exist");
    return ToJobInfo(job);
  }

  Result<JobInfo> AddUpload(const Caller& caller, const fs::path& staged, const std::string& original_name,
                            const std::string& collection) override {
    std::string name = SafeFileName(original_name);
    if (name.empty()) return InvalidArgument("the file name '" + original_name + "' has nothing usable in it");
    CLOISTER_ASSIGN_OR_RETURN(int64_t collection_id, WritableCollection(caller, collection));
    // A folder per upload keeps the user's own file name (the document's name in the library).
    static std::atomic<uint64_t> counter{0};
    auto now = std::chrono::system_clock::now().time_since_epoch();
    fs::path dir = config_.uploads_dir() /
                   (std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) + "-" +
                    std::to_string(counter++));
    CLOISTER_RETURN_IF_ERROR(EnsureDirectory(dir));
    std::error_code ec;
    fs::rename(staged, dir / name, ec);
    if (ec) return Internal("cannot keep the upload " + name + ": " + ec.message());
    CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> ids, EnqueueAll({dir / name}, collection_id));
    CLOISTER_RETURN_IF_ERROR(EnsurePipeline());
    pipeline_->Notify();
    return GetJob(caller, ids.front());
  }

  cloister::Status DeleteDocument(int64_t id) override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(storage::Document doc, catalog_.GetDocument(id));
    if (doc.parent_id) {
      return InvalidArgument("document " + std::to_string(id) + " is an attachment of document " +
                             std::to_string(*doc.parent_id) + "; delete that one");
    }
    CLOISTER_RETURN_IF_ERROR(EnsureRetrieverLocked());
    CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> chunks, catalog_.ChunkIdsOfDocument(id));
    retriever_->Forget(chunks);
    CLOISTER_RETURN_IF_ERROR(catalog_.DeleteDocument(id));
    // A file sent over HTTP lives only in our uploads folder: it goes with its document (a file
    // in the inbox or elsewhere is the user's, and stays).
    std::error_code ec;
    fs::path file(doc.path);
    if (fs::equivalent(file.parent_path().parent_path(), config_.uploads_dir(), ec)) {
      CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Document> others, catalog_.DocumentsAtPath(doc.path));
      if (others.empty()) fs::remove_all(file.parent_path(), ec);
    }
    return retriever_->Maintain(catalog_);
  }

  cloister::Status Reembed(const std::function<void(const StatusReport::Reembedding&)>& progress) override {
    {
      std::lock_guard lock(mu_);
      CLOISTER_RETURN_IF_ERROR(EnsureRetrieverLocked());
    }
    // A connection of its own: re-embedding takes long and must not hold the facade's.
    CLOISTER_ASSIGN_OR_RETURN(storage::Catalog catalog, storage::Catalog::Open(config_.catalog_path(), {}));
    return retriever_->Reembed(catalog, [this] { return stop_reembedding_.load(); },
                               [&](const ReembedState& s) {
                                 if (progress) progress({s.from, s.to, s.done, s.total, s.old_vectors_serve});
                               });
  }

  Result<BackupReport> Backup(const fs::path& dest) override {
    auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    if (fs::exists(dest, ec) && !fs::is_empty(dest, ec)) {
      return FailedPrecondition("the backup folder " + dest.string() + " is not empty; give a new or empty folder");
    }
    CLOISTER_RETURN_IF_ERROR(EnsureDirectory(dest));
    BackupReport report;
    report.folder = dest;
    const fs::path catalog_copy = dest / config_.catalog_path().filename();
    {
      // The catalog from a connection of its own, so the backup's read transaction holds up no one.
      CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
      CLOISTER_RETURN_IF_ERROR(reader->BackupTo(catalog_copy));
    }
    {
      // Where it came from, for restoring uploads into another data folder (RestoreBackup).
      CLOISTER_ASSIGN_OR_RETURN(storage::Catalog copy, storage::Catalog::Open(catalog_copy, {}));
      CLOISTER_RETURN_IF_ERROR(copy.SetSetting(kBackupDataDirSetting, fs::absolute(config_.data_dir).lexically_normal().string()));
      CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, copy.Stats());
      for (const auto& [status, n] : stats.documents) report.documents += n;
      report.chunks = stats.chunks;
      report.embeddings = stats.embeddings;
    }
    report.files = 1;
    report.bytes = static_cast<int64_t>(fs::file_size(catalog_copy, ec));
    {
      std::lock_guard lock(mu_);
      CLOISTER_RETURN_IF_ERROR(EnsureRetrieverLocked());
      CLOISTER_RETURN_IF_ERROR(retriever_->Save());
      fs::path index = retriever_->serving_index_path();
      if (!index.empty() && fs::is_regular_file(index, ec)) {
        fs::path target = dest / index.lexically_relative(config_.data_dir);
        CLOISTER_RETURN_IF_ERROR(CopyInto(index, target, &report));
      }
    }
    if (fs::is_directory(config_.uploads_dir(), ec)) {
      for (auto it = fs::recursive_directory_iterator(config_.uploads_dir(), ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        fs::path target = dest / it->path().lexically_relative(config_.data_dir);
        CLOISTER_RETURN_IF_ERROR(CopyInto(it->path(), target, &report));
      }
      if (ec) return FailedPrecondition("cannot read " + config_.uploads_dir().string() + ": " + ec.message());
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log::Info("backup", "backup written", {{"folder", dest.string()}, {"files", std::to_string(report.files)},
                                           {"bytes", std::to_string(report.bytes)}});
    return report;
  }

  cloister::Status StartBackground() override {
    CLOISTER_RETURN_IF_ERROR(EnsurePipeline());
    std::vector<fs::path> folders = {config_.inbox_dir};
    {
      std::lock_guard lock(mu_);
      CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> collections, catalog_.ListCollections());
      for (const auto& c : collections) {
        if (!c.folder.empty()) folders.emplace_back(c.folder);
      }
    }
    for (size_t i = 0; i < folders.size(); ++i) {
      auto watcher = std::make_unique<InboxWatcher>(
          folders[i], config_.catalog_path(), config_.ingest.settle_ms, [this] { pipeline_->Notify(); },
          [r = retriever_.get()](const std::vector<int64_t>& ids) { r->Forget(ids); });
      cloister::Status started = watcher->Start();
      if (i == 0) CLOISTER_RETURN_IF_ERROR(started);
      if (!started.ok()) {
        // One collection's unreachable folder (an unmounted share) must not keep the service
        // and every other collection down; it is retried at the next start.
        log::Warn("watch", "a collection's folder is not watched", {{"folder", folders[i].string()},
                  {"error", started.message()}});
        continue;
      }
      watchers_.push_back(std::move(watcher));
    }
    stop_reembedding_ = false;
    reembedder_ = std::thread([this] {
      cloister::Status done = Reembed({});
      if (!done.ok()) {
        log::Error("embed", "re-embedding stopped; it resumes at the next start", {{"error", done.message()}});
      }
    });
    return cloister::Status::Ok();
  }

  void StopBackground() override {
    stop_reembedding_ = true;
    if (reembedder_.joinable()) reembedder_.join();
    for (auto& watcher : watchers_) watcher->Stop();
    if (pipeline_) pipeline_->Stop();
    watchers_.clear();
    pipeline_.reset();
    std::lock_guard lock(mu_);
    if (retriever_) (void)retriever_->Save();
  }

 private:
  // Every collection (nullopt) or those granted to the caller.
  Result<Readable> ReadableBy(storage::Catalog& catalog, const Caller& caller) {
    if (!caller.user_id) return Readable();
    CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> ids, catalog.UserCollections(*caller.user_id));
    return Readable(std::move(ids));
  }
  Result<Readable> ReadableBy(const Caller& caller) {
    CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers_.Acquire());
    return ReadableBy(*reader, caller);
  }
  static bool Reads(const Readable& readable, int64_t collection_id) {
    return !readable || std::find(readable->begin(), readable->end(), collection_id) != readable->end();
  }

  // The document, when the caller may read it; a hidden one is "missing" in the very words the
  // catalog uses for a missing one, so the reply does not tell them apart.
  Result<storage::Document> ReadableDocument(storage::Catalog& catalog, const Caller& caller, int64_t id) {
    CLOISTER_ASSIGN_OR_RETURN(storage::Document doc, catalog.GetDocument(id));
    CLOISTER_ASSIGN_OR_RETURN(Readable readable, ReadableBy(catalog, caller));
    if (!Reads(readable, doc.collection_id)) return NotFound("document " + std::to_string(id) + " does not exist");
    return doc;
  }

  // The collection an upload goes into ("" is the default one). A limited caller writes where
  // it reads, and hears the same refusal for a collection that does not exist.
  Result<int64_t> WritableCollection(const Caller& caller, const std::string& name) {
    const std::string wanted = name.empty() ? std::string(storage::kDefaultCollection) : name;
    std::lock_guard lock(mu_);
    CLOISTER_RETURN_IF_ERROR(catalog_.EnsureCollection(storage::kDefaultCollection, "").status());
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> all, catalog_.ListCollections());
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.name == wanted; });
    CLOISTER_ASSIGN_OR_RETURN(Readable readable, ReadableBy(catalog_, caller));
    if (readable && (it == all.end() || !Reads(readable, it->id))) {
      return PermissionDenied("you may not add documents to the collection '" + wanted +
                              "'; upload into one granted to you (field \"collection\"), or ask an "
                              "administrator for `cloister grant`");
    }
    if (it == all.end()) {
      return NotFound("no collection named '" + wanted + "'; add it with `cloister collection add`");
    }
    return it->id;
  }

  cloister::Status FillCatalogFigures(const Readable& readable, StatusReport* r,
                                      std::map<std::string, int64_t>* vectors_by_model) {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats,
                              readable ? catalog_.StatsOf(*readable) : catalog_.Stats());
    *vectors_by_model = stats.embeddings_by_model;
    for (const auto& [status, n] : stats.documents) {
      r->documents_by_status[std::string(storage::DocumentStatusName(status))] = n;
      r->documents += n;
    }
    for (const auto& [state, n] : stats.jobs) r->jobs_by_state[std::string(storage::JobStateName(state))] = n;
    r->chunks = stats.chunks;
    r->embeddings = stats.embeddings;
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Job> failed, catalog_.ListJobs(storage::JobState::kFailed));
    std::erase_if(failed, [&](const storage::Job& job) { return !Reads(readable, job.collection_id); });
    std::sort(failed.begin(), failed.end(), [](const auto& a, const auto& b) {
      return a.updated_at != b.updated_at ? a.updated_at > b.updated_at : a.id > b.id;
    });
    for (size_t i = 0; i < failed.size() && i < 20; ++i) {
      r->recent_failures.push_back({failed[i].path, failed[i].error});
    }
    return cloister::Status::Ok();
  }

  static std::string NameOf(const std::vector<storage::Collection>& collections, int64_t id) {
    for (const auto& c : collections) {
      if (c.id == id) return c.name;
    }
    return "";
  }

  static DocumentInfo ToInfo(const storage::Document& doc) {
    DocumentInfo d;
    d.id = doc.id;
    d.parent_id = doc.parent_id;
    d.path = doc.path;
    d.name = doc.name.empty() ? fs::path(doc.path).filename().string() : doc.name;
    d.title = doc.title;
    d.type = doc.type;
    d.status = std::string(storage::DocumentStatusName(doc.status));
    d.error = doc.error;
    d.pages = doc.page_count;
    d.size_bytes = doc.size_bytes;
    d.created_at = doc.created_at;
    d.updated_at = doc.updated_at;
    return d;
  }

  static JobInfo ToJobInfo(const storage::Job& job) {
    JobInfo j;
    j.id = job.id;
    j.path = job.path;
    j.name = fs::path(job.path).filename().string();
    j.state = std::string(storage::JobStateName(job.state));
    j.error = job.error;
    j.document_id = job.document_id;
    switch (job.state) {
      case storage::JobState::kQueued: j.progress = 0; break;
      case storage::JobState::kExtracting: j.progress = 0.25; break;
      case storage::JobState::kChunking: j.progress = 0.5; break;
      case storage::JobState::kEmbedding: j.progress = 0.75; break;
      case storage::JobState::kDone: case storage::JobState::kFailed: j.progress = 1; break;
    }
    return j;
  }

  // The last component of a name a browser sent, without path separators, control characters
  // or leading dots, at most 200 bytes (cut at a UTF-8 boundary).
  static std::string SafeFileName(const std::string& given) {
    std::string base = given.substr(given.find_last_of("/\\") == std::string::npos ? 0 : given.find_last_of("/\\") + 1);
    std::string out;
    for (unsigned char c : base) {
      if (c < 0x20 || c == 0x7f || c == ':' || c == '*' || c == '?' || c == '"' || c == '<' || c == '>' || c == '|') continue;
      out += static_cast<char>(c);
    }
    size_t first = out.find_first_not_of(". ");
    out = first == std::string::npos ? "" : out.substr(first);
    if (out.size() > 200) {
      size_t cut = 200;
      while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
      out.resize(cut);
    }
    return out;
  }

  // Queues each file into `collection`, or, without one, into the collection whose folder
  // holds it (CollectionForPath).
  Result<std::vector<int64_t>> EnqueueAll(const std::vector<fs::path>& files,
                                          std::optional<int64_t> collection = std::nullopt) {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(int64_t fallback, catalog_.EnsureCollection(storage::kDefaultCollection, ""));
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> collections, catalog_.ListCollections());
    std::vector<int64_t> ids;
    for (const auto& f : files) {
      CLOISTER_ASSIGN_OR_RETURN(auto unfinished, catalog_.FindUnfinishedJob(f.string()));
      if (unfinished) {
        ids.push_back(unfinished->id);
        continue;
      }
      int64_t into = collection ? *collection : CollectionForPath(collections, f, fallback);
      CLOISTER_ASSIGN_OR_RETURN(int64_t id, catalog_.EnqueueJob(f.string(), into));
      ids.push_back(id);
    }
    return ids;
  }

  // Jobs a killed process left half-done go back to the queue before workers start; their
  // invisible documents are discarded when each job runs again.
  // Opens the embedding model and the vector index the first time they are needed (status and
  // models never load them).
  cloister::Status EnsureRetrieverLocked() {
    if (retriever_) return cloister::Status::Ok();
    auto retriever = std::make_unique<Retriever>(config_);
    std::vector<ModelEntry> models = ListModels(config_.models_dir, /*try_load=*/false);
    CLOISTER_RETURN_IF_ERROR(retriever->Open(FirstOfKind(models, "embedding"), models, catalog_));
    retriever_ = std::move(retriever);
    return cloister::Status::Ok();
  }

  // Loads the chat model the first time an answer needs it; null without one (extractive).
  Result<std::shared_ptr<ChatBackend>> EnsureChatModel() {
    std::lock_guard lock(chat_mu_);
    if (chat_checked_) return chat_;
    std::optional<ModelEntry> model = FirstOfKind(ListModels(config_.models_dir, /*try_load=*/false), "chat");
    if (model) {
      generate::EngineOptions options;
      options.slots = config_.answer.slots;
      options.queue = config_.answer.queue;
      options.context_tokens = config_.answer.context_tokens;
      auto engine = generate::Engine::Open(model->path, options);
      if (!engine.ok()) {
        return FailedPrecondition("the chat model " + model->path.filename().string() +
                                  " does not load: " + engine.status().message());
      }
      log::Info("answer", "chat model loaded", {{"model", model->path.filename().string()},
                {"slots", std::to_string(options.slots)}, {"context", std::to_string((*engine)->context_tokens())},
                {"template", (*engine)->chat_template_is_fallback() ? "chatml (fallback)" : "the model's own"}});
      chat_ = std::make_shared<LocalChat>(std::move(engine).value(), model->path.filename().string());
      chat_local_ = true;
    }
    chat_checked_ = true;
    return chat_;
  }

  cloister::Status EnsurePipeline() {
    std::lock_guard lock(mu_);
    if (pipeline_) return cloister::Status::Ok();
    CLOISTER_RETURN_IF_ERROR(EnsureRetrieverLocked());
    CLOISTER_ASSIGN_OR_RETURN(int resumed, catalog_.ResetUnfinishedJobs());
    if (resumed > 0) log::Info("ingest", "resuming interrupted jobs", {{"jobs", std::to_string(resumed)}});
    RunnerContext ctx = MakeRunnerContext(config_);
    Retriever* r = retriever_.get();
    if (r->semantic()) {
      ctx.embed = [r](storage::Catalog& c, int64_t job) { return r->EmbedJob(c, job); };
      ctx.forget = [r](const std::vector<int64_t>& ids) { r->Forget(ids); };
      // Chunk budgets in the embedding model's own tokens (chunk.h).
      ctx.chunking.count_tokens = [r](std::string_view text) { return r->CountTokens(text); };
    }
    auto pipeline = std::make_unique<Pipeline>(std::move(ctx), config_.catalog_path(), config_.ingest.workers);
    CLOISTER_RETURN_IF_ERROR(pipeline->Start());
    pipeline_ = std::move(pipeline);
    return cloister::Status::Ok();
  }

  Config config_;
  std::mutex mu_;  // catalog_ serves one thread at a time: writes, status, setup
  storage::Catalog catalog_;
  // Reads that may run side by side: searches, answers, the library. Two per core: a search
  // waits on the disk as well as the CPU.
  CatalogReaders readers_{config_.catalog_path(), std::max(4u, 2 * std::thread::hardware_concurrency())};
  std::unique_ptr<Retriever> retriever_;
  std::unique_ptr<Pipeline> pipeline_;
  std::vector<std::unique_ptr<InboxWatcher>> watchers_;  // the inbox, then collections' folders
  std::mutex chat_mu_;
  std::shared_ptr<ChatBackend> chat_;  // a remote server, or the local model once loaded
  bool chat_checked_ = false;
  bool chat_local_ = false;
  std::thread reembedder_;
  std::atomic<bool> stop_reembedding_{false};
};

}  // namespace

Result<BackupReport> RestoreBackup(const Config& config, const fs::path& src, bool replace) {
  auto started = std::chrono::steady_clock::now();
  const fs::path catalog_name = config.catalog_path().filename();
  const fs::path backup_catalog = src / catalog_name;
  std::error_code ec;
  if (!fs::is_regular_file(backup_catalog, ec)) {
    return NotFound(src.string() + " holds no " + catalog_name.string() + "; is it a folder `cloister backup` wrote?");
  }
  CLOISTER_RETURN_IF_ERROR(storage::Catalog::Check(backup_catalog));

  CLOISTER_RETURN_IF_ERROR(EnsureDirectory(config.data_dir));
  const std::vector<fs::path> kept = {catalog_name, fs::path("vectors"), fs::path("uploads")};
  if (fs::exists(config.catalog_path(), ec)) {
    if (!replace) {
      return FailedPrecondition(config.data_dir.string() + " already has a catalog; stop the service and "
                                "restore with --replace to move the current data aside");
    }
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", std::gmtime(&now));
    fs::path aside = config.data_dir / (std::string("replaced-") + stamp);
    CLOISTER_RETURN_IF_ERROR(EnsureDirectory(aside));
    for (const fs::path& name : kept) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        fs::path from = config.data_dir / (name.string() + suffix);
        if (!fs::exists(from, ec)) continue;
        fs::rename(from, aside / from.filename(), ec);
        if (ec) return FailedPrecondition("cannot move " + from.string() + " aside: " + ec.message());
      }
    }
    log::Info("restore", "current data moved aside", {{"folder", aside.string()}});
  }

  BackupReport report;
  report.folder = src;
  // Everything but the catalog first: the catalog appearing is what makes the data folder live.
  for (auto it = fs::recursive_directory_iterator(src, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    fs::path rel = it->path().lexically_relative(src);
    if (rel == catalog_name || rel.begin()->string().starts_with(catalog_name.string())) continue;
    CLOISTER_RETURN_IF_ERROR(CopyInto(it->path(), config.data_dir / rel, &report));
  }
  if (ec) return FailedPrecondition("cannot read " + src.string() + ": " + ec.message());
  fs::path partial = config.catalog_path();
  partial += ".restoring";
  CLOISTER_RETURN_IF_ERROR(CopyInto(backup_catalog, partial, &report));
  {
    CLOISTER_ASSIGN_OR_RETURN(storage::Catalog restored, storage::Catalog::Open(partial, {}));
    CLOISTER_ASSIGN_OR_RETURN(std::optional<std::string> from_dir, restored.GetSetting(kBackupDataDirSetting));
    std::string here = fs::absolute(config.data_dir).lexically_normal().string();
    if (from_dir && *from_dir != here) {
      const std::string old_uploads = (fs::path(*from_dir) / "uploads").string();
      const std::string new_uploads = (fs::path(here) / "uploads").string();
      CLOISTER_ASSIGN_OR_RETURN(int moved, restored.RenameDocumentsUnder(old_uploads, new_uploads));
      CLOISTER_RETURN_IF_ERROR(restored.RenameJobsUnder(old_uploads, new_uploads).status());
      if (moved > 0) log::Info("restore", "uploaded files found in the new data folder", {{"documents", std::to_string(moved)}});
    }
    CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, restored.Stats());
    for (const auto& [status, n] : stats.documents) report.documents += n;
    report.chunks = stats.chunks;
    report.embeddings = stats.embeddings;
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    fs::path side = partial;
    side += suffix;
    fs::remove(side, ec);
  }
  fs::rename(partial, config.catalog_path(), ec);
  if (ec) return FailedPrecondition("cannot put the catalog in place at " + config.catalog_path().string() + ": " + ec.message());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

SearchOptions SearchDefaults(const Config& config) {
  SearchOptions o;
  o.rrf_k = config.retrieval.rrf_k;
  o.vector_weight = config.retrieval.vector_weight;
  o.lexical_weight = config.retrieval.lexical_weight;
  return o;
}

Result<std::unique_ptr<KnowledgeBase>> KnowledgeBase::Open(const Config& config, std::shared_ptr<ChatBackend> chat) {
  CLOISTER_RETURN_IF_ERROR(EnsureDirectory(config.data_dir));
  CLOISTER_ASSIGN_OR_RETURN(storage::Catalog catalog,
                            storage::Catalog::Open(config.catalog_path(), {}));
  return std::unique_ptr<KnowledgeBase>(new KnowledgeBaseImpl(config, std::move(catalog), std::move(chat)));
}

}  // namespace cloister::app
