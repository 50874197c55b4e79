// bench/hybrid: search latency through the whole application (app::KnowledgeBase::Search) on a
// synthetic collection of N chunks, in hybrid, vector and lexical mode.
//
//   build/bin/bench_hybrid [--chunks 100000] [--queries 1000] [--lexical-queries N] [--exact-queries 40]
//                          [--keep DIR] [--threads N] [--clients 2] [--concurrent-queries 100]
//
// Data: N chunks of 120-200 words, 20 per document (consecutive ordinals, two chunks a page),
// written straight into the catalog (storage::Catalog::AddDocumentTree, status ready, then
// PutEmbeddings a thousand at a time). Each chunk is a fresh draw of whole sentences from the
// English corpora of ../shared/eval (XQuAD paragraphs and PubMedQA abstracts): 70% from the four
// source passages its document is "about", 30% from anywhere, so terms cluster by document as in
// real collections. Vectors are 384-d unit vectors around 1000 random centres (as bench_search
// makes them; a document's chunks favour one centre), stored under the embedding model's file
// name, which the catalog setting `embedding_model` names as the active model's. `--keep DIR`
// keeps the folder and reuses a completed population of the same size.
// Model: a random-weight BERT of bge-small-en-v1.5's shape, Q8_0, as bench_embed builds it: the
// cost of embedding a query is the real model's.
// Measured: KnowledgeBase::Open and its first Search (the vector index built from the stored
// embeddings; then again with the saved index file, loaded), then the XQuAD and PubMedQA questions
// one at a time after 20 warm-up queries, in each mode: p50/p95/p99/mean latency (hybrid and
// lexical on the first --lexical-queries only, as BM25 is the slow part). Then the parts alone on
// the same queries: the query's embedding (embed::Embedder), the FAISS search (the saved index,
// loaded), BM25 (Catalog::SearchLexical on its own connection), and on the first
// --exact-queries, exact BM25 (every word matched) against row budgets of 10k, 20k and 50k rows:
// latency and recall@10 of each against exact. Last, lexical throughput with `--clients`
// threads sharing the KnowledgeBase against as many threads with a catalog connection each.
// Resident memory (VmRSS) and the files' sizes on disk are printed along the way.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/app/knowledge_base.h"
#include "cloister/embed/embedder.h"
#include "cloister/index/vector_index.h"
#include "cloister/storage/catalog.h"
#include "synthetic_collection.h"

namespace {

namespace storage = cloister::storage;
using cloister::app::SearchMode;

using namespace cloister::bench;  // bench_util.h and synthetic_collection.h

constexpr int kWarmup = 20;

struct Args {
  int64_t chunks = 100000;
  int queries = 1000;
  fs::path keep;
  int threads = 0;  // 0: every core (the app's default); else CLOISTER_THREADS
  int clients = 2;
  int lexical_queries = 0;  // queries of the modes that run BM25; 0: as many as --queries
  int exact_queries = 40;   // queries compared with exact BM25 (seconds each at a million chunks)
  int concurrent_queries = 100;
};

void PrintMemory(const char* when) {
  malloc_trim(0);
  std::printf("  resident: %-38s VmRSS %7.0f MiB   (peak VmHWM %7.0f MiB)\n", when,
              StatusMiB("VmRSS:"), StatusMiB("VmHWM:"));
  std::fflush(stdout);
}

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    if (k == "--chunks")
      a->chunks = std::atoll(v.c_str());
    else if (k == "--queries")
      a->queries = std::atoi(v.c_str());
    else if (k == "--exact-queries")
      a->exact_queries = std::atoi(v.c_str());
    else if (k == "--keep")
      a->keep = v;
    else if (k == "--threads")
      a->threads = std::atoi(v.c_str());
    else if (k == "--clients")
      a->clients = std::atoi(v.c_str());
    else if (k == "--lexical-queries")
      a->lexical_queries = std::atoi(v.c_str());
    else if (k == "--concurrent-queries")
      a->concurrent_queries = std::atoi(v.c_str());
    else
      return false;
  }
  if (a->lexical_queries == 0 || a->lexical_queries > a->queries) a->lexical_queries = a->queries;
  return a->chunks >= kChunksPerDocument && a->queries > 0 && a->lexical_queries > 0 &&
         a->threads >= 0 && a->clients >= 0 && a->concurrent_queries > 0;
}

// ---- Measurement ----

// Other processes share the machine, and ggml's threads stall at every barrier when one of them
// is preempted: each run also records how much CPU the rest of the machine used meanwhile.
struct Timings {
  std::vector<double> ms;
  double wall = 0, cpu = 0, others = 0;  // seconds; others: CPU of every other process
  int64_t results = 0;
};

// Runs `one` on each warm-up query (untimed), then on each query, one at a time. `one` returns
// how many results it found.
Timings Measure(const std::vector<std::string>& queries, const std::vector<std::string>& warmup,
                const std::function<int(const std::string&)>& one) {
  for (const auto& q : warmup) one(q);
  Timings t;
  double cpu = ProcessCpuSeconds(), busy = MachineBusySeconds();
  auto start = Clock::now();
  for (const auto& q : queries) {
    auto began = Clock::now();
    t.results += one(q);
    t.ms.push_back(Seconds(began) * 1000);
  }
  t.wall = Seconds(start);
  t.cpu = ProcessCpuSeconds() - cpu;
  t.others = std::max(0.0, MachineBusySeconds() - busy - t.cpu);
  return t;
}

void PrintHeader() {
  std::printf("  %-38s %8s %8s %8s %8s %8s %7s %8s %7s\n", "", "p50 ms", "p95 ms", "p99 ms",
              "mean ms", "max ms", "results", "CPU/wall", "others");
}

// "others": cores the rest of the machine used on average meanwhile (0.1 or more disturbs the
// figures, the tail first).
void PrintRow(const std::string& label, const Timings& t) {
  double mean = std::accumulate(t.ms.begin(), t.ms.end(), 0.0) / static_cast<double>(t.ms.size());
  std::printf("  %-38s %8.2f %8.2f %8.2f %8.2f %8.1f %7.1f %8.2f %7.2f\n", label.c_str(),
              Percentile(t.ms, 0.50), Percentile(t.ms, 0.95), Percentile(t.ms, 0.99), mean,
              *std::max_element(t.ms.begin(), t.ms.end()),
              static_cast<double>(t.results) / static_cast<double>(t.ms.size()), t.cpu / t.wall,
              t.others / t.wall);
  std::fflush(stdout);
}

cloister::app::SearchOptions ModeOptions(SearchMode mode) {
  cloister::app::SearchOptions o;
  o.k = 10;
  o.mode = mode;
  return o;
}

int SearchCount(cloister::app::KnowledgeBase& kb, const std::string& q, SearchMode mode) {
  auto found = kb.Search(cloister::app::Caller::Everything(), q, ModeOptions(mode));
  if (!found.ok()) Die("search failed for \"" + q + "\": " + found.status().ToString());
  return static_cast<int>(found->results.size());
}

// Opens the knowledge base and runs its first search, in vector mode so that BM25 adds little:
// it opens the embedding model and loads the vector index, or builds it from the stored
// embeddings when its file is missing.
std::unique_ptr<cloister::app::KnowledgeBase> OpenMeasured(const cloister::app::Config& config,
                                                           const std::string& query) {
  bool had_index = fs::exists(config.index_path(kEmbeddingModelFile));
  auto start = Clock::now();
  auto kb = cloister::app::KnowledgeBase::Open(config);
  if (!kb.ok()) Die("cannot open the knowledge base: " + kb.status().ToString());
  double open_s = Seconds(start);
  start = Clock::now();
  SearchCount(**kb, query, SearchMode::kVector);
  double first_s = Seconds(start);
  auto status = (*kb)->Status(cloister::app::Caller::Everything());
  if (!status.ok()) Die(status.status().ToString());
  std::printf(
      "open: KnowledgeBase::Open %.3f s; first search (vector) %.2f s (model opened, index %s: "
      "%s, %lld vectors)\n",
      open_s, first_s,
      had_index ? "loaded from its file" : "built from the stored embeddings and saved",
      status->index_kind.c_str(), static_cast<long long>(status->index_size));
  if (status->retrieval_mode != "hybrid") Die("the application does not search in hybrid mode");
  std::fflush(stdout);
  return std::move(kb).value();
}

void PrintDisk(const cloister::app::Config& config) {
  auto size = [](const fs::path& p) {
    std::error_code ec;
    auto bytes = fs::file_size(p, ec);
    return ec ? 0.0 : static_cast<double>(bytes) / (1 << 20);
  };
  fs::path db = config.catalog_path();
  std::printf("  disk: catalog %s %.0f MiB (+ WAL %.0f MiB), index %s %.0f MiB\n",
              db.filename().c_str(), size(db), size(db.string() + "-wal"),
              config.index_path(kEmbeddingModelFile).filename().c_str(),
              size(config.index_path(kEmbeddingModelFile)));
  std::fflush(stdout);
}

// The vector side alone, on the same queries: the query's embedding, then the FAISS search for
// the 80 candidates the application asks (k = 10: a pool of 40, twice that without filters).
void VectorParts(const cloister::app::Config& config, const Args& args,
                 const std::vector<std::string>& queries, const std::vector<std::string>& warmup) {
  namespace embed = cloister::embed;
  embed::EmbedderOptions options;
  options.threads = args.threads;
  auto embedder = embed::Embedder::Open(config.models_dir / kEmbeddingModelFile, options);
  if (!embedder.ok()) Die("cannot open the embedder: " + embedder.status().ToString());
  std::vector<std::vector<float>> vectors;  // warm-up queries first, as Measure runs them
  PrintRow("query embedding (Embedder)", Measure(queries, warmup, [&](const std::string& q) {
             auto v = (*embedder)->Embed({q}, embed::Role::kQuery);
             if (!v.ok()) Die("embedding failed: " + v.status().ToString());
             if (vectors.size() < queries.size() + warmup.size()) vectors.push_back(v->front());
             return 1;
           }));
  auto index = cloister::index::VectorIndex::Load(config.index_path(kEmbeddingModelFile));
  if (!index.ok()) Die("cannot load the index: " + index.status().ToString());
  std::vector<std::string> keys(vectors.size());
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = std::to_string(i);
  std::vector<std::string> warm(keys.begin(), keys.begin() + static_cast<long>(warmup.size()));
  std::vector<std::string> timed(keys.begin() + static_cast<long>(warmup.size()), keys.end());
  PrintRow("FAISS search, 80 (VectorIndex)", Measure(timed, warm, [&](const std::string& key) {
             auto hits = (*index)->Search(vectors[std::stoul(key)], 80);
             if (!hits.ok()) Die("FAISS search failed: " + hits.status().ToString());
             return static_cast<int>(hits->size());
           }));
}

// Runs `sql` with the FTS5 expression bound to ?1; returns the first column of the first row
// (or how many rows came back when `count_rows`).
int64_t RunFts(const storage::Database& db, const std::string& sql, const std::string& match,
               bool count_rows) {
  auto st = db.Prepare(sql);
  if (!st.ok()) Die(st.status().ToString());
  if (sql.find("?1") != std::string::npos) Check(st->Bind(1, match), "binding");
  int64_t rows = 0, first = 0;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) Die("FTS5 query failed: " + row.status().ToString());
    if (!*row) break;
    if (rows++ == 0) first = st->ColumnInt64(0);
  }
  return count_rows ? rows : first;
}

// The lexical side alone: Catalog::SearchLexical for the pool of 40; then exact BM25 (no row
// budget) against budgets of 10k, 20k and 50k rows, for latency and recall@10 against exact.
void LexicalParts(const cloister::app::Config& config, const std::vector<std::string>& queries,
                  const std::vector<std::string>& warmup, int exact_queries) {
  auto catalog = storage::Catalog::Open(config.catalog_path());
  if (!catalog.ok()) Die(catalog.status().ToString());
  auto top10 = [&](const std::string& q, int64_t budget) {
    auto hits = catalog->SearchLexical(q, 10, {}, nullptr, budget);
    if (!hits.ok()) Die("lexical search failed: " + hits.status().ToString());
    std::vector<int64_t> ids;
    for (const auto& h : *hits) ids.push_back(h.chunk_id);
    return ids;
  };
  PrintRow("BM25, 40 (Catalog::SearchLexical)", Measure(queries, warmup, [&](const std::string& q) {
             auto hits = catalog->SearchLexical(q, 40);
             if (!hits.ok()) Die("lexical search failed: " + hits.status().ToString());
             return static_cast<int>(hits->size());
           }));
  // The row budget against exact BM25 (every word matched): latency, and how many of exact
  // BM25's top 10 each budget returns (the approximation's recall@10).
  std::vector<std::string> exact_set(queries.begin(), queries.begin() + std::min<size_t>(queries.size(), static_cast<size_t>(std::max(exact_queries, 1))));
  std::vector<std::vector<int64_t>> exact;
  PrintRow("BM25 exact, every word, 10", Measure(exact_set, {}, [&](const std::string& q) {
             exact.push_back(top10(q, std::numeric_limits<int64_t>::max()));
             return static_cast<int>(exact.back().size());
           }));
  for (int64_t budget : {10000, 20000, 50000}) {
    std::vector<std::vector<int64_t>> got;
    char label[64];
    std::snprintf(label, sizeof label, "BM25, row budget %lldk, 10", static_cast<long long>(budget / 1000));
    PrintRow(label, Measure(exact_set, {}, [&](const std::string& q) {
               got.push_back(top10(q, budget));
               return static_cast<int>(got.back().size());
             }));
    double found = 0, wanted = 0;
    for (size_t i = 0; i < exact.size(); ++i) {
      for (int64_t id : exact[i]) found += std::count(got[i].begin(), got[i].end(), id);
      wanted += static_cast<double>(exact[i].size());
    }
    std::printf("    recall@10 against exact BM25 over %zu queries: %.3f\n", exact.size(),
                wanted > 0 ? found / wanted : 1.0);
  }
  storage::OpenOptions read_only;
  read_only.read_only = true;
  auto db = storage::Database::Open(config.catalog_path(), read_only);
  if (!db.ok()) Die(db.status().ToString());
  int64_t chunks = RunFts(*db, "SELECT count(*) FROM chunks", "", false);
  double matched = 0;
  for (const auto& q : exact_set) {
    auto m = storage::FtsMatchExpression(q);
    if (!m.ok()) Die(m.status().ToString());
    matched += static_cast<double>(
        RunFts(*db, "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1", *m, false));
  }
  std::printf("  an every-word query matches %.1f%% of the chunks on average (%lld chunks)\n",
              100 * matched / static_cast<double>(exact_set.size()) / static_cast<double>(chunks),
              static_cast<long long>(chunks));
}

// Queries per second with `clients` threads taking the next query in turn.
double Throughput(int clients, const std::vector<std::string>& queries,
                  const std::function<void(int client, const std::string&)>& one) {
  std::atomic<size_t> next{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (size_t i; (i = next++) < queries.size();) one(c, queries[i]);
    });
  }
  for (auto& t : threads) t.join();
  return static_cast<double>(queries.size()) / Seconds(start);
}

void Concurrency(cloister::app::KnowledgeBase& kb, const cloister::app::Config& config,
                 const Args& args, const std::vector<std::string>& queries) {
  std::vector<storage::Catalog> catalogs;
  for (int c = 0; c < args.clients; ++c) {
    auto catalog = storage::Catalog::Open(config.catalog_path());
    if (!catalog.ok()) Die(catalog.status().ToString());
    catalogs.push_back(std::move(catalog).value());
  }
  auto through_kb = [&](int, const std::string& q) { SearchCount(kb, q, SearchMode::kLexical); };
  auto own_catalog = [&](int c, const std::string& q) {
    if (!catalogs[static_cast<size_t>(c)].SearchLexical(q, 40).ok()) Die("lexical search failed");
  };
  std::printf("lexical throughput, %zu queries (queries/s):\n", queries.size());
  for (int clients : {1, args.clients}) {
    double kb_qps = Throughput(clients, queries, through_kb);
    double own_qps = Throughput(clients, queries, own_catalog);
    std::printf(
        "  %d thread(s): one KnowledgeBase %.1f   Catalog::SearchLexical, a connection "
        "each %.1f\n",
        clients, kb_qps, own_qps);
    std::fflush(stdout);
  }
}

// Each mode on its queries (`lexical` for the modes that run BM25), one at a time.
void RunModes(cloister::app::KnowledgeBase& kb, const std::vector<std::string>& queries,
              const std::vector<std::string>& lexical, const std::vector<std::string>& warmup) {
  PrintHeader();
  for (auto [mode, name] :
       {std::pair{SearchMode::kHybrid, "hybrid"}, std::pair{SearchMode::kVector, "vector"},
        std::pair{SearchMode::kLexical, "lexical"}}) {
    const auto& asked = mode == SearchMode::kVector ? queries : lexical;
    PrintRow(
        std::string("KnowledgeBase::Search ") + name + ", " + std::to_string(asked.size()),
        Measure(asked, warmup, [&](const std::string& q) { return SearchCount(kb, q, mode); }));
  }
}

std::vector<std::string> Head(const std::vector<std::string>& v, int n) {
  return {v.begin(), v.begin() + std::min<long>(n, static_cast<long>(v.size()))};
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: bench_hybrid [--chunks N] [--queries N] [--lexical-queries N] "
                 "[--keep DIR] [--threads N] [--clients N] [--concurrent-queries N]\n");
    return 1;
  }
  if (args.threads > 0) setenv("CLOISTER_THREADS", std::to_string(args.threads).c_str(), 1);
  fs::path dir = args.keep.empty()
                     ? fs::temp_directory_path() / ("cloister-hybrid-" + std::to_string(::getpid()))
                     : args.keep;
  std::printf(
      "bench_hybrid: %lld chunks, %d queries (%d with BM25), threads %s, folder %s; "
      "load average %.2f\n",
      static_cast<long long>(args.chunks), args.queries, args.lexical_queries,
      args.threads ? std::to_string(args.threads).c_str() : "all", dir.c_str(), LoadAverage());
  PrepareData(dir, args.chunks);
  BuildEmbeddingModel(dir / "models");
  PrintMemory("after population");

  cloister::app::Config config;
  config.data_dir = dir / "data";
  config.models_dir = dir / "models";
  std::vector<std::string> pool = ReadQueries();
  std::vector<std::string> queries, warmup;
  for (int i = 0; i < args.queries; ++i)
    queries.push_back(pool[static_cast<size_t>(i) % pool.size()]);
  for (int i = 0; i < kWarmup; ++i) {
    warmup.push_back(
        pool[(static_cast<size_t>(args.queries) + static_cast<size_t>(i)) % pool.size()]);
  }
  fs::remove(config.index_path(kEmbeddingModelFile));
  OpenMeasured(config, warmup.front()).reset();
  PrintMemory("after the first knowledge base closed");
  double before = StatusMiB("VmRSS:");
  auto kb = OpenMeasured(config, warmup.front());
  PrintMemory("after open, index loaded");
  double added = StatusMiB("VmRSS:") - before;
  std::printf("  knowledge base resident: %.0f MiB, %.0f MiB per million chunks\n", added,
              added * 1e6 / static_cast<double>(args.chunks));
  std::vector<std::string> lexical = Head(queries, args.lexical_queries);
  RunModes(*kb, queries, lexical, warmup);
  PrintMemory("after queries");
  PrintDisk(config);
  std::printf("the parts alone, same queries:\n");
  PrintHeader();
  VectorParts(config, args, queries, warmup);
  LexicalParts(config, lexical, warmup, args.exact_queries);
  if (args.clients > 0) Concurrency(*kb, config, args, Head(lexical, args.concurrent_queries));
  std::printf("load average %.2f at the end\n", LoadAverage());
  kb.reset();
  if (args.keep.empty()) fs::remove_all(dir);
  return 0;
}
