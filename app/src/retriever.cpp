#include "retriever.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include "cloister/core/log.h"
#include "cloister/index/fusion.h"

namespace cloister::app {
namespace {

constexpr size_t kEmbedBatch = 32;

std::string IsoDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<storage::ChunkFilter> ToChunkFilter(storage::Catalog& catalog, const SearchFilters& f) {
  storage::ChunkFilter out;
  out.types = f.types;
  if (f.from) out.from_contains = *f.from;
  if (f.after) out.after = IsoDate(*f.after);
  if (f.before) out.before = IsoDate(*f.before);
  if (!f.collections.empty()) {
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> all, catalog.ListCollections());
    for (const auto& name : f.collections) {
      auto it = std::find_if(all.begin(), all.end(), [&](const auto& c) { return c.name == name; });
      if (it == all.end()) return NotFound("no collection named '" + name + "'");
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
  h.text = r.text;
  h.snippet = snippet.empty() ? Excerpt(r.text) : snippet;
  h.score = score;
  return h;
}

}  // namespace

Retriever::Retriever(Config config) : config_(std::move(config)) {}

Status Retriever::Open(const std::optional<ModelEntry>& model, storage::Catalog& catalog) {
  if (!model) return Status::Ok();
  embed::EmbedderOptions options;
  CLOISTER_ASSIGN_OR_RETURN(embedder_, embed::Embedder::Open(model->path, options));
  model_id_ = embedder_->model_id();
  return LoadOrRebuild(catalog);
}

Status Retriever::LoadOrRebuild(storage::Catalog& catalog) {
  CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, catalog.Stats());
  int64_t expected = stats.embeddings_by_model.count(model_id_) ? stats.embeddings_by_model[model_id_] : 0;
  auto loaded = index::VectorIndex::Load(config_.index_path());
  std::string why;
  if (!loaded.ok()) {
    why = loaded.status().message();
  } else if ((*loaded)->dimension() != embedder_->dimension()) {
    why = "the index has " + std::to_string((*loaded)->dimension()) + " dimensions, the model " +
          std::to_string(embedder_->dimension());
  } else if ((*loaded)->size() != expected) {
    why = "the index holds " + std::to_string((*loaded)->size()) + " vectors, the catalog " +
          std::to_string(expected);
  } else {
    index_ = std::move(loaded).value();
    return Status::Ok();
  }
  if (expected > 0 || loaded.ok()) {
    log::Warn("index", "rebuilding the vector index from the stored embeddings", {{"reason", why}});
  }
  return Rebuild(catalog, expected);
}

Status Retriever::Rebuild(storage::Catalog& catalog, int64_t expected) {
  std::vector<index::IdVector> all;
  all.reserve(static_cast<size_t>(expected));
  CLOISTER_RETURN_IF_ERROR(catalog.ForEachEmbedding(model_id_, [&](int64_t id, std::span<const float> v) {
    all.push_back({id, std::vector<float>(v.begin(), v.end())});
    return Status::Ok();
  }));
  CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<index::VectorIndex> built,
                            index::VectorIndex::Build(embedder_->dimension(), all, IndexOptions()));
  {
    std::lock_guard lock(index_mu_);
    index_ = std::move(built);
  }
  dirty_ = true;
  return Save();
}

Status Retriever::EmbedJob(storage::Catalog& catalog, int64_t job_id) {
  if (!embedder_) return Status::Ok();
  CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Chunk> chunks, catalog.ChunksOfJob(job_id));
  for (size_t start = 0; start < chunks.size(); start += kEmbedBatch) {
    size_t end = std::min(chunks.size(), start + kEmbedBatch);
    std::vector<std::string> texts;
    for (size_t i = start; i < end; ++i) texts.push_back(chunks[i].text);
    CLOISTER_ASSIGN_OR_RETURN(auto vectors, embedder_->Embed(texts, embed::Role::kDocument));
    std::vector<storage::Embedding> rows;
    std::vector<index::IdVector> items;
    for (size_t i = start; i < end; ++i) {
      rows.push_back({chunks[i].id, vectors[i - start]});
      items.push_back({chunks[i].id, std::move(vectors[i - start])});
    }
    CLOISTER_RETURN_IF_ERROR(catalog.PutEmbeddings(model_id_, rows));
    std::shared_ptr<index::VectorIndex> idx;
    {
      std::lock_guard lock(index_mu_);
      idx = index_;
    }
    CLOISTER_RETURN_IF_ERROR(idx->Add(items));
    dirty_ = true;
  }
  return Status::Ok();
}

void Retriever::Forget(const std::vector<int64_t>& chunk_ids) {
  if (!embedder_ || chunk_ids.empty()) return;
  std::shared_ptr<index::VectorIndex> idx;
  {
    std::lock_guard lock(index_mu_);
    idx = index_;
  }
  if (idx && idx->Remove(chunk_ids) > 0) dirty_ = true;
}

index::VectorIndexOptions Retriever::IndexOptions() const {
  index::VectorIndexOptions o;
  o.factory = config_.index.factory;
  o.exact_below = config_.index.exact_below;
  return o;
}

Status Retriever::Maintain(storage::Catalog& catalog) {
  if (!embedder_) return Status::Ok();
  std::shared_ptr<index::VectorIndex> idx;
  {
    std::lock_guard lock(index_mu_);
    idx = index_;
  }
  if (index::ShouldRebuild(*idx, IndexOptions())) {
    log::Info("index", "collection size calls for another index kind; rebuilding",
              {{"vectors", std::to_string(idx->size())}, {"kind", idx->factory()}});
    CLOISTER_ASSIGN_OR_RETURN(storage::CatalogStats stats, catalog.Stats());
    return Rebuild(catalog, stats.embeddings_by_model[model_id_]);
  }
  if (idx->tombstones() > 0 &&
      static_cast<double>(idx->tombstones()) > config_.index.compact_ratio * static_cast<double>(idx->size())) {
    CLOISTER_RETURN_IF_ERROR(idx->Compact());
    dirty_ = true;
  }
  return Save();
}

Status Retriever::Save() {
  if (!embedder_ || !dirty_.exchange(false)) return Status::Ok();
  std::shared_ptr<index::VectorIndex> idx;
  {
    std::lock_guard lock(index_mu_);
    idx = index_;
  }
  Status st = idx->Save(config_.index_path());
  if (!st.ok()) dirty_ = true;
  return st;
}

std::string Retriever::index_kind() const { return index_ ? index_->kind() : "none"; }
int64_t Retriever::index_size() const { return index_ ? index_->size() : 0; }

Result<std::vector<std::pair<int64_t, double>>> Retriever::VectorRanking(const std::string& query, int n) {
  CLOISTER_ASSIGN_OR_RETURN(auto q, embedder_->Embed({query}, embed::Role::kQuery));
  std::shared_ptr<index::VectorIndex> idx;
  {
    std::lock_guard lock(index_mu_);
    idx = index_;
  }
  CLOISTER_ASSIGN_OR_RETURN(std::vector<index::VectorHit> hits, idx->Search(q.front(), n));
  std::vector<std::pair<int64_t, double>> out;
  for (const auto& h : hits) out.emplace_back(h.id, h.score);
  return out;
}

Result<SearchResults> Retriever::Search(storage::Catalog& catalog, const std::string& query,
                                        const SearchOptions& o) {
  if (o.k < 1) return InvalidArgument("k must be at least 1, got " + std::to_string(o.k));
  SearchMode mode = o.mode == SearchMode::kAuto ? (embedder_ ? SearchMode::kHybrid : SearchMode::kLexical) : o.mode;
  if (mode != SearchMode::kLexical && !embedder_) {
    return FailedPrecondition("vector search needs an embedding model in " + config_.models_dir.string());
  }
  CLOISTER_ASSIGN_OR_RETURN(storage::ChunkFilter filter, ToChunkFilter(catalog, o.filters));
  const int pool = std::max(o.k * 4, 40);

  std::vector<int64_t> lexical_ids;
  std::map<int64_t, std::string> snippets;
  std::map<int64_t, double> scores;
  if (mode != SearchMode::kVector) {
    CLOISTER_ASSIGN_OR_RETURN(auto hits, catalog.SearchLexical(query, pool, filter));
    for (auto& h : hits) {
      lexical_ids.push_back(h.chunk_id);
      snippets[h.chunk_id] = std::move(h.snippet);
      scores[h.chunk_id] = h.score;
    }
  }
  std::vector<int64_t> vector_ids;
  std::map<int64_t, double> similarity;
  if (mode != SearchMode::kLexical && !query.empty()) {
    // Over-fetch: filtered-out and invisible chunks are dropped after the index answers.
    CLOISTER_ASSIGN_OR_RETURN(auto ranked, VectorRanking(query, filter.empty() ? pool * 2 : pool * 8));
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
  if (o.mmr && embedder_ && ranking.size() > 1) CLOISTER_RETURN_IF_ERROR(Diversify(catalog, o, &ranking));
  if (ranking.size() > static_cast<size_t>(o.k) * 2) ranking.resize(static_cast<size_t>(o.k) * 2);

  std::vector<int64_t> ids;
  for (const auto& [id, score] : ranking) ids.push_back(id);
  CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::ChunkRef> refs, catalog.VisibleChunks(ids));
  std::map<int64_t, double> fused(ranking.begin(), ranking.end());
  SearchResults out;
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
Status Retriever::Diversify(storage::Catalog& catalog, const SearchOptions& o,
                            std::vector<std::pair<int64_t, double>>* ranking) {
  size_t pool = std::min(ranking->size(), static_cast<size_t>(o.k) * 4);
  std::vector<std::vector<float>> vectors(pool);
  double top = ranking->front().second > 0 ? ranking->front().second : 1;
  for (size_t i = 0; i < pool; ++i) {
    auto v = catalog.GetEmbedding((*ranking)[i].first, model_id_);
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
