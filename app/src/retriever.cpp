#include "retriever.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <future>
#include <map>
#include <set>

#include "cloister/core/files.h"
#include "cloister/core/log.h"
#include "cloister/index/fusion.h"

namespace cloister::app {
namespace fs = std::filesystem;
namespace {

constexpr size_t kEmbedBatch = 32;
constexpr int kBuildPage = 4096;  // stored vectors read per query while building an index

std::string IsoDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The user's filters with the caller's permission on top: `readable` becomes the mandatory
// readable_collections, and a collection the caller may not read is named "missing" exactly as
// one that does not exist, so a filter cannot probe for collection names.
Result<storage::ChunkFilter> ToChunkFilter(storage::Catalog& catalog, const SearchFilters& f,
                                           const Readable& readable) {
  storage::ChunkFilter out;
  out.readable_collections = readable;
  out.types = f.types;
  if (f.from) out.from_contains = *f.from;
  if (f.after) out.after = IsoDate(*f.after);
  if (f.before) out.before = IsoDate(*f.before);
  if (!f.collections.empty()) {
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> all, catalog.ListCollections());
    for (const auto& name : f.collections) {
      auto it = std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.name == name; });
      if (it == all.end() || (readable && std::find(readable->begin(), readable->end(), it->id) ==
                                              readable->end())) {
        return NotFound("no collection named '" + name + "'");
      }
      out.collection_ids.push_back(it->id);
    }
  }
  return out;
}

std::string Excerpt(const std::string& text) {
  if (text.size() <= 240) return text;
  size_t cut = text.rfind(' ', 240);
  return text.substr(0, cut == std::string::npos ? 240 : cut) + "…";
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Appends `next` to `text` without repeating the overlap chunks share (whole sentences of the
// previous chunk start the next one).
std::string JoinOverlapping(const std::string& text, const std::string& next) {
  size_t max = std::min(text.size(), next.size() / 2);
  for (size_t len = max; len >= 16; --len) {
    if (text.compare(text.size() - len, len, next, 0, len) == 0) return text + next.substr(len);
  }
  return text + "\n" + next;
}

SearchHit ToHit(const storage::ChunkRef& r, double score, const std::string& snippet) {
  SearchHit h;
  h.chunk_id = r.chunk_id;
  h.document_id = r.document_id;
  h.path = r.path;
  h.title = r.title;
  h.type = r.type;
  h.name = r.name;
  h.parent_id = r.parent_id;
  h.page = r.page_start;
  h.from = r.from;
  h.date = r.date;
  h.subject = r.subject;
  h.text = r.text;
  h.snippet = snippet.empty() ? Excerpt(r.text) : snippet;
  h.score = score;
  return h;
}

}  // namespace

Retriever::Retriever(Config config) : config_(std::move(config)) {}

Result<std::shared_ptr<Retriever::Space>> Retriever::OpenSpace(const ModelEntry& model,
                                                                std::optional<std::string> id) const {
  embed::EmbedderOptions options;
  options.query_prefix = config_.retrieval.query_prefix;
  options.document_prefix = config_.retrieval.document_prefix;
  auto space = std::make_shared<Space>();
  CLOISTER_ASSIGN_OR_RETURN(space->embedder, embed::Embedder::Open(model.path, options));
  space->model_id = id ? *id : space->embedder->model_id();
  return space;
}

// Index files a killed process was writing ("<model>.faiss.tmp.<pid>.<n>") stay behind: those
// of processes that no longer run are removed (another live process may be writing its own).
static void RemoveAbandonedIndexFiles(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    size_t tmp = name.find(".faiss.tmp.");
    if (tmp == std::string::npos) continue;
    long pid = std::strtol(name.c_str() + tmp + 11, nullptr, 10);
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
      std::error_code removed;
      fs::remove(it->path(), removed);
      log::Info("index", "removed an index file a stopped process left unfinished", {{"file", it->path().string()}});
    }
  }
}

Status Retriever::Open(const std::optional<ModelEntry>& model, const std::vector<ModelEntry>& available,
                       storage::Catalog& catalog) {
  // Indexes lived in one file before they were kept per model; the stored vectors rebuild it.
  std::error_code ec;
  fs::remove(config_.data_dir / "vectors.faiss", ec);
  RemoveAbandonedIndexFiles(config_.data_dir / "vectors");
  if (!model) return Status::Ok();
  CLOISTER_ASSIGN_OR_RETURN(std::shared_ptr<Space> configured, OpenSpace(*model));
  CLOISTER_ASSIGN_OR_RETURN(std::optional<std::string> active, catalog.GetSetting(kActiveModelSetting));
  CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, catalog.Stats());
  if (!active && !stats.embeddings_by_model.empty() &&
      !stats.embeddings_by_model.count(configured->model_id)) {
    // A catalog from before the setting existed: the model with the most vectors was serving.
    auto most = std::max_element(stats.embeddings_by_model.begin(), stats.embeddings_by_model.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    active = most->first;
  }
  if (!active || *active == configured->model_id) {
    CLOISTER_RETURN_IF_ERROR(catalog.SetSetting(kActiveModelSetting, configured->model_id));
    CLOISTER_RETURN_IF_ERROR(LoadOrRebuild(catalog, *configured));
    std::unique_lock lock(spaces_mu_);
    serving_ = std::move(configured);
    return Status::Ok();
  }
  log::Info("embed", "the embedding model changed; re-embedding every chunk, old vectors serve meanwhile",
            {{"from", *active}, {"to", configured->model_id}});
  std::shared_ptr<Space> old;
  // The file named by the id (ids may carry a document prefix's hash after '#').
  std::string file = active->substr(0, active->find('#'));
  auto entry = std::find_if(available.begin(), available.end(),
                            [&](const ModelEntry& m) { return m.kind == "embedding" && m.path.filename() == file; });
  if (entry == available.end()) {
    log::Warn("embed", "the previous embedding model is no longer in the models folder; search is "
              "lexical until re-embedding finishes", {{"model", *active}});
  } else if (auto opened = OpenSpace(*entry, *active); !opened.ok()) {
    log::Warn("embed", "the previous embedding model does not load; search is lexical until "
              "re-embedding finishes", {{"model", *active}, {"error", opened.status().message()}});
  } else {
    old = std::move(opened).value();
    CLOISTER_RETURN_IF_ERROR(LoadOrRebuild(catalog, *old));
  }
  std::unique_lock lock(spaces_mu_);
  serving_ = std::move(old);
  target_ = std::move(configured);
  return Status::Ok();
}

bool Retriever::semantic() const {
  std::shared_lock lock(spaces_mu_);
  return serving_ || target_;
}

int Retriever::CountTokens(std::string_view text) const {
  std::shared_lock lock(spaces_mu_);
  const Space* s = target_ ? target_.get() : serving_.get();
  return s ? s->embedder->CountTokens(text) : 0;
}

Result<TextEmbeddings> Retriever::EmbedTexts(const std::vector<std::string>& texts, bool as_query) const {
  std::shared_ptr<Space> space;
  {
    std::shared_lock lock(spaces_mu_);
    space = target_ ? target_ : serving_;
  }
  if (!space) return FailedPrecondition("no embedding model is configured");
  if (texts.empty()) return InvalidArgument("nothing to embed");
  embed::Role role = as_query ? embed::Role::kQuery : embed::Role::kDocument;
  TextEmbeddings out;
  out.model = space->model_id;
  CLOISTER_ASSIGN_OR_RETURN(out.vectors, space->embedder->Embed(texts, role));
  const embed::Prefixes& prefixes = space->embedder->prefixes();
  const std::string& prefix = as_query ? prefixes.query : prefixes.document;
  for (const auto& t : texts) out.tokens += space->embedder->CountTokens(prefix + t);
  return out;
}

Status Retriever::LoadOrRebuild(storage::Catalog& catalog, Space& space) {
  CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, catalog.Stats());
  int64_t expected = stats.embeddings_by_model.count(space.model_id) ? stats.embeddings_by_model[space.model_id] : 0;
  auto loaded = index::VectorIndex::Load(config_.index_path(space.model_id));
  std::string why;
  if (!loaded.ok()) {
    why = loaded.status().message();
  } else if ((*loaded)->dimension() != space.embedder->dimension()) {
    why = "the index has " + std::to_string((*loaded)->dimension()) + " dimensions, the model " +
          std::to_string(space.embedder->dimension());
  } else if ((*loaded)->size() != expected) {
    why = "the index holds " + std::to_string((*loaded)->size()) + " vectors, the catalog " +
          std::to_string(expected);
  } else {
    space.SetIndex(std::move(loaded).value());
    return Status::Ok();
  }
  if (expected > 0 || loaded.ok()) {
    log::Warn("index", "rebuilding the vector index from the stored embeddings",
              {{"model", space.model_id}, {"reason", why}});
  }
  CLOISTER_ASSIGN_OR_RETURN(std::shared_ptr<index::VectorIndex> built, BuildFromCatalog(catalog, space));
  space.SetIndex(built);
  CLOISTER_RETURN_IF_ERROR(EnsureDirectory(config_.index_path(space.model_id).parent_path()));
  return built->Save(config_.index_path(space.model_id));
}

// Streams the model's stored vectors into a new index, a page at a time (a million 384-d
// vectors would take 1.5 GiB at once).
Result<std::unique_ptr<index::VectorIndex>> Retriever::BuildFromCatalog(storage::Catalog& catalog,
                                                                        const Space& space) {
  CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, catalog.Stats());
  int64_t expected = stats.embeddings_by_model.count(space.model_id) ? stats.embeddings_by_model[space.model_id] : 0;
  int64_t after = 0;
  auto next = [&](std::vector<index::IdVector>* batch) -> Status {
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Embedding> page,
                              catalog.EmbeddingsAfter(space.model_id, after, kBuildPage));
    for (auto& e : page) batch->push_back({e.chunk_id, std::move(e.vector)});
    if (!page.empty()) after = page.back().chunk_id;
    return Status::Ok();
  };
  return index::VectorIndex::Build(space.embedder->dimension(), expected, next, IndexOptions());
}

std::shared_ptr<Retriever::Space> Retriever::Serving() const {
  std::shared_lock lock(spaces_mu_);
  return serving_;
}

Status Retriever::EmbedJob(storage::Catalog& catalog, int64_t job_id) {
  // Shared for the whole job: the switch at the end of a re-embedding waits for it, so no job
  // straddles two models.
  std::shared_lock lock(spaces_mu_);
  if (!serving_ && !target_) return Status::Ok();
  CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Chunk> chunks, catalog.ChunksOfJob(job_id));
  for (size_t start = 0; start < chunks.size(); start += kEmbedBatch) {
    size_t end = std::min(chunks.size(), start + kEmbedBatch);
    std::vector<std::string> texts;
    for (size_t i = start; i < end; ++i) texts.push_back(chunks[i].text);
    for (Space* space : {serving_.get(), target_.get()}) {
      if (!space) continue;
      CLOISTER_ASSIGN_OR_RETURN(auto vectors, space->embedder->Embed(texts, embed::Role::kDocument));
      std::vector<storage::Embedding> rows;
      std::vector<index::IdVector> items;
      for (size_t i = start; i < end; ++i) {
        rows.push_back({chunks[i].id, vectors[i - start]});
        items.push_back({chunks[i].id, std::move(vectors[i - start])});
      }
      CLOISTER_RETURN_IF_ERROR(catalog.PutEmbeddings(space->model_id, rows));
      if (space == serving_.get()) {
        CLOISTER_RETURN_IF_ERROR(space->GetIndex()->Add(items));
        dirty_ = true;
      } else {
        std::lock_guard late(late_mu_);
        if (collecting_late_) late_vectors_.insert(late_vectors_.end(), items.begin(), items.end());
      }
    }
  }
  return Status::Ok();
}

void Retriever::Forget(const std::vector<int64_t>& chunk_ids) {
  if (chunk_ids.empty()) return;
  {
    std::lock_guard late(late_mu_);
    if (collecting_late_) late_forgotten_.insert(late_forgotten_.end(), chunk_ids.begin(), chunk_ids.end());
  }
  std::shared_ptr<Space> serving = Serving();
  if (serving && serving->GetIndex()->Remove(chunk_ids) > 0) dirty_ = true;
}

std::optional<ReembedState> Retriever::Reembedding(storage::Catalog& catalog) const {
  std::shared_lock lock(spaces_mu_);
  if (!target_) return std::nullopt;
  ReembedState s;
  s.to = target_->model_id;
  s.old_vectors_serve = serving_ != nullptr;
  if (auto active = catalog.GetSetting(kActiveModelSetting); active.ok() && *active) s.from = **active;
  auto stats = catalog.Stats();
  if (stats.ok()) {
    s.total = stats->chunks;
    s.done = stats->embeddings_by_model.count(s.to) ? stats->embeddings_by_model.at(s.to) : 0;
  }
  return s;
}

Status Retriever::Reembed(storage::Catalog& catalog, const std::function<bool()>& stop,
                          const std::function<void(const ReembedState&)>& progress) {
  std::shared_ptr<Space> target;
  {
    std::shared_lock lock(spaces_mu_);
    target = target_;
  }
  if (!target) return Status::Ok();
  auto started = std::chrono::steady_clock::now();
  int64_t embedded = 0;
  // Passes until a finish finds nothing missing (chunks stored during a pass join the next).
  for (;;) {
  for (int64_t after = 0;;) {
    if (stop && stop()) return Status::Ok();
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Chunk> chunks,
                              catalog.ChunksMissingEmbedding(target->model_id, after, kEmbedBatch));
    if (chunks.empty()) break;
    after = chunks.back().id;
    std::vector<std::string> texts;
    for (const auto& c : chunks) texts.push_back(c.text);
    CLOISTER_ASSIGN_OR_RETURN(auto vectors, target->embedder->Embed(texts, embed::Role::kDocument));
    std::vector<storage::Embedding> rows;
    for (size_t i = 0; i < chunks.size(); ++i) rows.push_back({chunks[i].id, std::move(vectors[i])});
    Status put = catalog.PutEmbeddings(target->model_id, rows);
    if (put.code() == StatusCode::kNotFound) {
      // A document was deleted meanwhile: keep the vectors of the chunks that remain.
      for (const auto& row : rows) {
        Status one = catalog.PutEmbeddings(target->model_id, {row});
        if (!one.ok() && one.code() != StatusCode::kNotFound) return one;
      }
    } else if (!put.ok()) {
      return put;
    }
    embedded += static_cast<int64_t>(rows.size());
    if (progress) {
      if (auto state = Reembedding(catalog)) progress(*state);
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log::Info("embed", "re-embedded the collection", {{"model", target->model_id},
            {"chunks", std::to_string(embedded)}, {"seconds", std::to_string(seconds)}});
  Status finished = FinishReembedding(catalog, target);
  if (finished.code() != StatusCode::kUnavailable) return finished;
  }
}

// Builds the new model's index while the old one serves, then, with ingestion held, adds what
// arrived meanwhile and switches. Order for crash safety: the index file, then the setting, then
// the old vectors.
Status Retriever::FinishReembedding(storage::Catalog& catalog, const std::shared_ptr<Space>& target) {
  auto stop_collecting = [this] {
    std::lock_guard late(late_mu_);
    collecting_late_ = false;
    late_vectors_.clear();
    late_forgotten_.clear();
  };
  {
    std::lock_guard late(late_mu_);
    collecting_late_ = true;
  }
  auto built = BuildFromCatalog(catalog, *target);
  if (!built.ok()) {
    stop_collecting();
    return built.status();
  }
  std::shared_ptr<index::VectorIndex> index = std::move(built).value();
  std::unique_lock lock(spaces_mu_);  // waits for running jobs; holds new ones back
  Status caught_up;
  {
    std::lock_guard late(late_mu_);
    caught_up = index->Add(late_vectors_);
    index->Remove(late_forgotten_);
  }
  stop_collecting();
  CLOISTER_RETURN_IF_ERROR(caught_up);
  // Every job embeds with the target under spaces_mu_, so none can be half-way now; a chunk
  // still without a vector was stored after this pass looked (the next pass takes it).
  CLOISTER_ASSIGN_OR_RETURN(int64_t missing, catalog.CountChunksMissingEmbedding(target->model_id));
  if (missing > 0) {
    return Unavailable(std::to_string(missing) + " chunks still lack a vector from " + target->model_id +
                       "; re-embedding goes on");
  }
  fs::path path = config_.index_path(target->model_id);
  CLOISTER_RETURN_IF_ERROR(EnsureDirectory(path.parent_path()));
  CLOISTER_RETURN_IF_ERROR(index->Save(path));
  CLOISTER_RETURN_IF_ERROR(catalog.SetSetting(kActiveModelSetting, target->model_id));
  target->SetIndex(index);
  serving_ = target;
  target_.reset();
  lock.unlock();
  CLOISTER_ASSIGN_OR_RETURN(int64_t dropped, catalog.DeleteEmbeddingsExcept(target->model_id));
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path.parent_path(), ec)) {
    if (entry.path() != path && entry.path().extension() == ".faiss") fs::remove(entry.path(), ec);
  }
  log::Info("embed", "now searching with the new embedding model",
            {{"model", target->model_id}, {"vectors", std::to_string(index->size())},
             {"old_vectors_dropped", std::to_string(dropped)}});
  return Status::Ok();
}

index::VectorIndexOptions Retriever::IndexOptions() const {
  index::VectorIndexOptions o;
  o.factory = config_.index.factory;
  o.exact_below = config_.index.exact_below;
  return o;
}

Status Retriever::Maintain(storage::Catalog& catalog) {
  std::shared_ptr<Space> space = Serving();
  if (!space) return Status::Ok();
  std::shared_ptr<index::VectorIndex> idx = space->GetIndex();
  if (index::ShouldRebuild(*idx, IndexOptions())) {
    log::Info("index", "collection size calls for another index kind; rebuilding",
              {{"vectors", std::to_string(idx->size())}, {"kind", idx->factory()}});
    CLOISTER_ASSIGN_OR_RETURN(std::shared_ptr<index::VectorIndex> built, BuildFromCatalog(catalog, *space));
    space->SetIndex(built);
    dirty_ = true;
  } else if (idx->tombstones() > 0 && static_cast<double>(idx->tombstones()) >
                                          config_.index.compact_ratio * static_cast<double>(idx->size())) {
    CLOISTER_RETURN_IF_ERROR(idx->Compact());
    dirty_ = true;
  }
  return Save();
}

Status Retriever::Save() {
  std::shared_ptr<Space> space = Serving();
  if (!space || !dirty_.exchange(false)) return Status::Ok();
  fs::path path = config_.index_path(space->model_id);
  Status st = EnsureDirectory(path.parent_path());
  if (st.ok()) st = space->GetIndex()->Save(path);
  if (!st.ok()) dirty_ = true;
  return st;
}

fs::path Retriever::serving_index_path() const {
  std::shared_ptr<Space> space = Serving();
  return space ? config_.index_path(space->model_id) : fs::path();
}

std::string Retriever::index_kind() const {
  std::shared_ptr<Space> space = Serving();
  return space ? space->GetIndex()->kind() : "none";
}

int64_t Retriever::index_size() const {
  std::shared_ptr<Space> space = Serving();
  return space ? space->GetIndex()->size() : 0;
}

Result<std::vector<std::pair<int64_t, double>>> Retriever::VectorRanking(const Space& space,
                                                                         const std::string& query, int n,
                                                                         const index::IdFilter* allowed) {
  CLOISTER_ASSIGN_OR_RETURN(auto q, space.embedder->Embed({query}, embed::Role::kQuery));
  CLOISTER_ASSIGN_OR_RETURN(std::vector<index::VectorHit> hits, space.GetIndex()->Search(q.front(), n, allowed));
  std::vector<std::pair<int64_t, double>> out;
  for (const auto& h : hits) out.emplace_back(h.id, h.score);
  return out;
}

Result<SearchResults> Retriever::Search(storage::Catalog& catalog, const std::string& query,
                                        const SearchOptions& o, const Readable& readable) {
  if (o.k < 1) return InvalidArgument("k must be at least 1, got " + std::to_string(o.k));
  // One space for the whole query, even if a re-embedding switches models meanwhile.
  std::shared_ptr<Space> space = Serving();
  SearchMode mode = o.mode == SearchMode::kAuto ? (space ? SearchMode::kHybrid : SearchMode::kLexical) : o.mode;
  if (mode != SearchMode::kLexical && !space) {
    if (auto state = Reembedding(catalog)) {
      return FailedPrecondition("vector search resumes when re-embedding with " + state->to + " finishes (" +
                                std::to_string(state->done) + " of " + std::to_string(state->total) +
                                " chunks); the previous model " + state->from + " is no longer available");
    }
    return FailedPrecondition("vector search needs an embedding model in " + config_.models_dir.string());
  }
  CLOISTER_ASSIGN_OR_RETURN(storage::ChunkFilter filter, ToChunkFilter(catalog, o.filters, readable));
  const int pool = std::max(o.k * 4, 40);
  // Only what the caller may read: BM25 has it in its SQL (filter.readable_collections), FAISS
  // as an IDSelector over the readable chunks, so neither ranks a hidden chunk at all.
  std::optional<index::IdFilter> allowed;
  const bool semantic = mode != SearchMode::kLexical && !query.empty();
  if (semantic && readable) {
    CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> ids, catalog.VisibleChunkIdsIn(*readable));
    allowed.emplace(std::move(ids));
  }
  const index::IdFilter* allowed_ptr = allowed ? &*allowed : nullptr;

  // Hybrid: the query's embedding and the FAISS search run on a thread of their own while BM25
  // runs on this one, so the query costs the slower of the two rather than their sum.
  const int vector_n = filter.empty() ? pool * 2 : pool * 8;  // filtered-out chunks are dropped later
  std::future<Result<std::vector<std::pair<int64_t, double>>>> vector_ranking;
  if (semantic && mode == SearchMode::kHybrid) {
    vector_ranking = std::async(std::launch::async, [this, space, &query, vector_n, allowed_ptr] {
      return VectorRanking(*space, query, vector_n, allowed_ptr);
    });
  }

  std::vector<int64_t> lexical_ids;
  storage::LexicalSearchInfo lexical_info;
  std::map<int64_t, std::string> snippets;
  std::map<int64_t, double> scores;
  if (mode != SearchMode::kVector) {
    CLOISTER_ASSIGN_OR_RETURN(auto hits, catalog.SearchLexical(query, pool, filter, &lexical_info));
    for (auto& h : hits) {
      lexical_ids.push_back(h.chunk_id);
      snippets[h.chunk_id] = std::move(h.snippet);
      scores[h.chunk_id] = h.score;
    }
  }
  std::vector<int64_t> vector_ids;
  std::map<int64_t, double> similarity;
  if (semantic) {
    // Over-fetch: filtered-out and invisible chunks are dropped after the index answers.
    CLOISTER_ASSIGN_OR_RETURN(auto ranked, vector_ranking.valid() ? vector_ranking.get()
                                                                  : VectorRanking(*space, query, vector_n, allowed_ptr));
    std::vector<int64_t> ids;
    for (const auto& [id, score] : ranked) {
      ids.push_back(id);
      similarity[id] = score;
    }
    CLOISTER_ASSIGN_OR_RETURN(auto visible, catalog.VisibleChunks(ids, filter));
    for (const auto& r : visible) {
      if (static_cast<int>(vector_ids.size()) < pool) vector_ids.push_back(r.chunk_id);
    }
  }

  std::vector<std::pair<int64_t, double>> ranking;
  if (mode == SearchMode::kHybrid) {
    for (const auto& f : index::FuseReciprocalRank({vector_ids, lexical_ids},
                                                   {o.vector_weight, o.lexical_weight}, o.rrf_k)) {
      ranking.emplace_back(f.id, f.score);
    }
  } else if (mode == SearchMode::kVector) {
    for (int64_t id : vector_ids) ranking.emplace_back(id, similarity[id]);
  } else {
    for (int64_t id : lexical_ids) ranking.emplace_back(id, scores[id]);
  }
  if (o.mmr && space && ranking.size() > 1) {
    CLOISTER_RETURN_IF_ERROR(Diversify(catalog, space->model_id, o, &ranking));
  }
  if (ranking.size() > static_cast<size_t>(o.k) * 2) ranking.resize(static_cast<size_t>(o.k) * 2);

  std::vector<int64_t> ids;
  for (const auto& [id, score] : ranking) ids.push_back(id);
  storage::ChunkFilter permission;
  permission.readable_collections = readable;
  CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::ChunkRef> refs, catalog.VisibleChunks(ids, permission));
  std::map<int64_t, double> fused(ranking.begin(), ranking.end());
  SearchResults out;
  out.skipped_words = std::move(lexical_info.skipped_words);
  out.mode = mode == SearchMode::kHybrid ? "hybrid" : mode == SearchMode::kVector ? "vector" : "lexical";
  std::set<std::pair<int64_t, int>> taken;  // (document, ordinal) already in a result
  for (const auto& r : refs) {
    if (static_cast<int>(out.results.size()) >= o.k) break;
    if (taken.count({r.document_id, r.ordinal})) continue;
    taken.insert({r.document_id, r.ordinal});
    SearchHit hit = ToHit(r, fused[r.chunk_id], snippets[r.chunk_id]);
    if (o.merge_neighbours) MergeNeighbours(catalog, r, fused, &taken, &hit);
    out.results.push_back(std::move(hit));
  }
  return out;
}

// Adjacent chunks of the same document that are results too join this one: one longer passage
// instead of two overlapping ones.
void Retriever::MergeNeighbours(storage::Catalog& catalog, const storage::ChunkRef& r,
                                const std::map<int64_t, double>& fused,
                                std::set<std::pair<int64_t, int>>* taken, SearchHit* hit) {
  for (int ordinal = r.ordinal + 1;; ++ordinal) {
    auto next = catalog.ChunkAt(r.document_id, ordinal);
    if (!next.ok() || !next->has_value() || !fused.count((*next)->chunk_id) ||
        taken->count({r.document_id, ordinal})) {
      break;
    }
    taken->insert({r.document_id, ordinal});
    hit->text = JoinOverlapping(hit->text, (*next)->text);
  }
}

// Maximal marginal relevance: each next result is the candidate most relevant to the query and
// least like the results already chosen (Carbonell & Goldstein, 1998).
Status Retriever::Diversify(storage::Catalog& catalog, const std::string& model_id, const SearchOptions& o,
                            std::vector<std::pair<int64_t, double>>* ranking) {
  size_t pool = std::min(ranking->size(), static_cast<size_t>(o.k) * 4);
  std::vector<std::vector<float>> vectors(pool);
  double top = ranking->front().second > 0 ? ranking->front().second : 1;
  for (size_t i = 0; i < pool; ++i) {
    auto v = catalog.GetEmbedding((*ranking)[i].first, model_id);
    if (v.ok()) vectors[i] = std::move(v).value();
  }
  std::vector<std::pair<int64_t, double>> chosen;
  std::vector<bool> used(pool, false);
  std::vector<size_t> picked;
  while (chosen.size() < pool) {
    size_t best = pool;
    double best_score = -1e300;
    for (size_t i = 0; i < pool; ++i) {
      if (used[i]) continue;
      double max_sim = 0;
      for (size_t j : picked) max_sim = std::max(max_sim, Cosine(vectors[i], vectors[j]));
      double score = o.mmr_lambda * (*ranking)[i].second / top - (1 - o.mmr_lambda) * max_sim;
      if (score > best_score) {
        best_score = score;
        best = i;
      }
    }
    used[best] = true;
    picked.push_back(best);
    chosen.push_back((*ranking)[best]);
  }
  ranking->erase(ranking->begin(), ranking->begin() + static_cast<long>(pool));
  ranking->insert(ranking->begin(), chosen.begin(), chosen.end());
  return Status::Ok();
}

}  // namespace cloister::app
