// bench/search: vector search, exact (Flat) against the automatic approximate kind, same run.
//
//   build/bin/bench_search [--sizes 100000,1000000] [--queries 1000] [--dim 384]
//                          [--clusters 1000] [--spread 0.05] [--approx FACTORY] [--breadth N,N]
//                          [--ef-construction N] [--no-exact]
//
// Data: unit vectors drawn around `clusters` random unit centres (Gaussian, per-coordinate
// standard deviation `spread`; 0.05 at 384-d puts a vector at cosine ~0.7 from its centre and
// ~0.5 from its cluster mates, ~0 from other clusters), so approximate search meets the
// structure real embeddings have rather than uniform noise. Queries are fresh draws from the same
// distribution. For each size, and for each kind, it reports build time (VectorIndex::Build,
// streamed in batches), p50/p99 latency of single-vector searches for the top 10, one at a time,
// resident memory added by the index (VmRSS before and after building) per million vectors, and
// recall@10 of the approximate kind against the exact one. `--approx` names another factory
// string to compare (default: the automatic choice above the exact threshold); `--breadth`
// searches the one approximate index again at each efSearch (HNSW) or nprobe (IVF) given.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "cloister/index/vector_index.h"

namespace {

using cloister::index::ChooseFactory;
using cloister::index::IdVector;
using cloister::index::VectorIndex;
using cloister::index::VectorIndexOptions;
using Clock = std::chrono::steady_clock;

struct Args {
  std::vector<int64_t> sizes = {100000, 1000000};
  int queries = 1000;
  int dim = 384;
  int clusters = 1000;
  double spread = 0.05;
  std::string approx;             // empty: automatic
  std::vector<int64_t> breadths;  // efSearch (HNSW) or nprobe (IVF); empty: the default
  int ef_construction = 0;        // 0: the default option
  bool exact = true;
};

struct Measured {
  std::string kind;
  double build_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double mib = 0;
  double recall = -1;  // -1: not measured
  std::vector<std::vector<int64_t>> top;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double RssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return 0;
}

void Normalise(float* v, int dim) {
  double s = 0;
  for (int i = 0; i < dim; ++i) s += double(v[i]) * v[i];
  auto inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int i = 0; i < dim; ++i) v[i] *= inv;
}

// n clustered unit vectors, row-major.
std::vector<float> Clustered(const std::vector<float>& centres, int64_t n, const Args& a,
                             uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, static_cast<float>(a.spread));
  std::uniform_int_distribution<int> pick(0, a.clusters - 1);
  std::vector<float> out(static_cast<size_t>(n) * a.dim);
  for (int64_t i = 0; i < n; ++i) {
    float* v = out.data() + i * a.dim;
    const float* c = centres.data() + static_cast<size_t>(pick(rng)) * a.dim;
    for (int j = 0; j < a.dim; ++j) v[j] = c[j] + noise(rng);
    Normalise(v, a.dim);
  }
  return out;
}

std::vector<float> Centres(const Args& a) {
  std::mt19937_64 rng(42);
  std::normal_distribution<float> g;
  std::vector<float> c(static_cast<size_t>(a.clusters) * a.dim);
  for (float& x : c) x = g(rng);
  for (int i = 0; i < a.clusters; ++i) Normalise(c.data() + static_cast<size_t>(i) * a.dim, a.dim);
  return c;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::unique_ptr<VectorIndex> BuildMeasured(const std::vector<float>& data, int64_t n, const Args& a,
                                           const VectorIndexOptions& options, Measured* m) {
  malloc_trim(0);
  double rss_before = RssMiB();
  int64_t next = 0;
  auto source = [&](std::vector<IdVector>* batch) {
    for (; next < n && batch->size() < 65536; ++next) {
      const float* v = data.data() + next * a.dim;
      batch->push_back({next, std::vector<float>(v, v + a.dim)});
    }
    return cloister::Status::Ok();
  };
  auto start = Clock::now();
  auto built = VectorIndex::Build(a.dim, n, source, options);
  m->build_s = Seconds(Clock::now() - start);
  if (!built.ok()) {
    std::fprintf(stderr, "build failed: %s\n", built.status().ToString().c_str());
    return nullptr;
  }
  malloc_trim(0);
  m->mib = RssMiB() - rss_before;
  m->kind = (*built)->factory();
  return std::move(built).value();
}

bool QueryMeasured(const VectorIndex& index, const std::vector<float>& queries, const Args& a,
                   Measured* m) {
  std::vector<double> ms;
  m->top.clear();
  for (int q = -10; q < a.queries; ++q) {  // ten unmeasured warm-up searches
    const float* v = queries.data() + static_cast<size_t>(std::max(q, 0)) * a.dim;
    std::vector<float> query(v, v + a.dim);
    auto t = Clock::now();
    auto hits = index.Search(query, 10);
    double elapsed = Seconds(Clock::now() - t) * 1000;
    if (!hits.ok()) {
      std::fprintf(stderr, "search failed: %s\n", hits.status().ToString().c_str());
      return false;
    }
    if (q < 0) continue;
    ms.push_back(elapsed);
    std::vector<int64_t> ids;
    for (const auto& h : *hits) ids.push_back(h.id);
    m->top.push_back(std::move(ids));
  }
  m->p50_ms = Percentile(ms, 0.50);
  m->p99_ms = Percentile(ms, 0.99);
  return true;
}

double Recall(const std::vector<std::vector<int64_t>>& truth,
              const std::vector<std::vector<int64_t>>& got) {
  double sum = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::unordered_set<int64_t> t(truth[q].begin(), truth[q].end());
    int found = 0;
    for (int64_t id : got[q]) found += static_cast<int>(t.count(id));
    sum += truth[q].empty() ? 1.0 : double(found) / double(truth[q].size());
  }
  return truth.empty() ? 0 : sum / double(truth.size());
}

void PrintRow(int64_t n, const Measured& m, int breadth = 0) {
  char recall[16] = "-";  // the exact kind itself, or no exact run to compare with
  if (m.kind == "Flat") std::snprintf(recall, sizeof recall, "exact");
  if (m.recall >= 0) std::snprintf(recall, sizeof recall, "%.4f", m.recall);
  char width[16] = "-";
  if (breadth > 0) std::snprintf(width, sizeof width, "%d", breadth);
  std::printf("%9lld  %-12s %7s %9.1f %9.3f %9.3f %10s %9.0f %11.0f\n", static_cast<long long>(n),
              m.kind.c_str(), width, m.build_s, m.p50_ms, m.p99_ms, recall, m.mib,
              m.mib * 1e6 / static_cast<double>(n));
}

std::vector<int64_t> ParseSizes(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) out.push_back(std::atoll(part.c_str()));
  return out;
}

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--sizes")
      a->sizes = ParseSizes(value());
    else if (k == "--queries")
      a->queries = std::atoi(value().c_str());
    else if (k == "--dim")
      a->dim = std::atoi(value().c_str());
    else if (k == "--clusters")
      a->clusters = std::atoi(value().c_str());
    else if (k == "--spread")
      a->spread = std::atof(value().c_str());
    else if (k == "--approx")
      a->approx = value();
    else if (k == "--breadth")
      a->breadths = ParseSizes(value());
    else if (k == "--ef-construction")
      a->ef_construction = std::atoi(value().c_str());
    else if (k == "--no-exact")
      a->exact = false;
    else
      return false;
  }
  return !a->sizes.empty() && a->queries > 0 && a->dim > 0 && a->clusters > 0;
}

}  // namespace

// Exact, then the approximate kind at each search breadth, on the same `n` vectors.
bool RunSize(int64_t n, const std::vector<float>& centres, const std::vector<float>& queries,
             const Args& a, const VectorIndexOptions& approx) {
  std::vector<float> data = Clustered(centres, n, a, 1);
  Measured exact, ann;
  if (a.exact) {
    auto index = BuildMeasured(data, n, a, {.factory = "Flat"}, &exact);
    if (!index || !QueryMeasured(*index, queries, a, &exact)) return false;
    PrintRow(n, exact);
  }
  auto index = BuildMeasured(data, n, a, approx, &ann);
  if (!index) return false;
  std::vector<int64_t> breadths = a.breadths;
  if (breadths.empty()) breadths.push_back(0);
  for (int64_t breadth : breadths) {
    VectorIndexOptions search = approx;
    if (breadth > 0) search.hnsw_ef_search = search.ivf_nprobe = static_cast<int>(breadth);
    if (!index->SetSearchOptions(search).ok() || !QueryMeasured(*index, queries, a, &ann)) {
      return false;
    }
    if (a.exact) ann.recall = Recall(exact.top, ann.top);
    bool ivf = ann.kind.rfind("IVF", 0) == 0;
    PrintRow(n, ann, ivf ? search.ivf_nprobe : search.hnsw_ef_search);
    if (a.exact) {
      std::printf("%9lld  approximate / exact latency: p50 %.3f, p99 %.3f\n",
                  static_cast<long long>(n), ann.p50_ms / exact.p50_ms, ann.p99_ms / exact.p99_ms);
    }
    std::fflush(stdout);
  }
  return true;
}

int main(int argc, char** argv) {
  Args a;
  if (!ParseArgs(argc, argv, &a)) {
    std::fprintf(stderr,
                 "usage: bench_search [--sizes N,N] [--queries N] [--dim D] "
                 "[--clusters C] [--spread S] [--approx FACTORY] [--breadth N,N] "
                 "[--ef-construction N] [--no-exact]\n");
    return 1;
  }
  VectorIndexOptions approx;
  approx.exact_below = 0;  // the automatic choice's approximate kind, at every size
  approx.factory = a.approx;
  if (a.ef_construction > 0) approx.hnsw_ef_construction = a.ef_construction;
  std::printf(
      "%d-d unit vectors in %d clusters (spread %.3f), %d queries, top 10; "
      "automatic kind from %lld vectors: %s\n",
      a.dim, a.clusters, a.spread, a.queries,
      static_cast<long long>(VectorIndexOptions{}.exact_below),
      ChooseFactory(VectorIndexOptions{}.exact_below, a.dim, {}).c_str());
  std::printf("%9s  %-12s %7s %9s %9s %9s %10s %9s %11s\n", "vectors", "kind", "breadth", "build s",
              "p50 ms", "p99 ms", "recall@10", "MiB", "MiB/1M");
  std::vector<float> centres = Centres(a);
  std::vector<float> queries = Clustered(centres, a.queries, a, 2);
  for (int64_t n : a.sizes) {
    if (!RunSize(n, centres, queries, a, approx)) return 2;
  }
  return 0;
}
