// bench/retrieval-eval: retrieval quality on a BEIR-format set (corpus.jsonl, queries.jsonl,
// qrels/test.tsv): recall@10, MRR@10 and nDCG@10 for lexical, vector and hybrid search.
//
//   build/bin/retrieval-eval [--set DIR] [--models DIR | --synthetic-model] [--k 10]
//
// The corpus is ingested through the real pipeline (one text file per corpus entry: title, a
// blank line, text), so chunking, storage and the index are the production ones. Vector and
// hybrid figures need an embedding model: point --models at a folder with a real one (e.g.
// bge-small-en-v1.5 Q8_0), or use --synthetic-model for a random-weight model of bge-small's
// shape, whose figures only show the harness runs (they mean nothing).
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

#include "cloister/app/knowledge_base.h"
#include "cloister/llm/synthetic.h"

namespace {

namespace fs = std::filesystem;
using cloister::app::SearchMode;

struct Query {
  std::string id;
  std::string text;
};

std::vector<std::pair<std::string, Poco::JSON::Object::Ptr>> ReadJsonl(const fs::path& p) {
  std::vector<std::pair<std::string, Poco::JSON::Object::Ptr>> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto obj = Poco::JSON::Parser().parse(line).extract<Poco::JSON::Object::Ptr>();
    out.emplace_back(obj->getValue<std::string>("_id"), obj);
  }
  return out;
}

// query id -> (corpus id -> graded relevance)
std::map<std::string, std::map<std::string, int>> ReadQrels(const fs::path& p) {
  std::map<std::string, std::map<std::string, int>> q;
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream s(line);
    std::string qid, cid;
    int score = 0;
    if (s >> qid >> cid >> score && score > 0) q[qid][cid] = score;
  }
  return q;
}

struct Metrics {
  double recall = 0, mrr = 0, ndcg = 0, ms = 0;
  int n = 0;
};

void Score(const std::vector<std::string>& ranked, const std::map<std::string, int>& rel, int k, Metrics* m) {
  int found = 0;
  double dcg = 0, first = 0;
  for (int i = 0; i < static_cast<int>(ranked.size()) && i < k; ++i) {
    auto it = rel.find(ranked[static_cast<size_t>(i)]);
    if (it == rel.end()) continue;
    ++found;
    dcg += (std::pow(2.0, it->second) - 1) / std::log2(i + 2.0);
    if (first == 0) first = 1.0 / (i + 1);
  }
  std::vector<int> ideal;
  for (const auto& [id, g] : rel) ideal.push_back(g);
  std::sort(ideal.rbegin(), ideal.rend());
  double idcg = 0;
  for (int i = 0; i < static_cast<int>(ideal.size()) && i < k; ++i) idcg += (std::pow(2.0, ideal[static_cast<size_t>(i)]) - 1) / std::log2(i + 2.0);
  m->recall += static_cast<double>(found) / static_cast<double>(rel.size());
  m->mrr += first;
  m->ndcg += idcg > 0 ? dcg / idcg : 0;
  ++m->n;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path set = fs::path(CLOISTER_SHARED_DIR) / "eval" / "xquad" / "beir-en";
  fs::path models;
  bool synthetic = false;
  int k = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--set" && i + 1 < argc) set = argv[++i];
    else if (a == "--models" && i + 1 < argc) models = argv[++i];
    else if (a == "--k" && i + 1 < argc) k = std::max(1, std::atoi(argv[++i]));
    else if (a == "--synthetic-model") synthetic = true;
    else {
      std::fprintf(stderr, "usage: retrieval-eval [--set DIR] [--models DIR | --synthetic-model] [--k N]\n");
      return 1;
    }
  }
  fs::path work = fs::temp_directory_path() / ("cloister-eval-" + std::to_string(::getpid()));
  fs::create_directories(work / "corpus");
  if (synthetic) {
    models = work / "models";
    fs::create_directories(models);
    auto spec = cloister::llm::SyntheticModelSpec::BgeSmallShape(fs::path(CLOISTER_VOCAB_DIR) / "ggml-vocab-bert-bge.gguf");
    spec.name = "random-bge-small-en-v1.5-shape";
    if (!cloister::llm::WriteSyntheticModel(spec, work / "f16.gguf").ok() ||
        !cloister::llm::QuantizeModel(work / "f16.gguf", models / "random-bge-small-q8_0.gguf", "Q8_0").ok()) {
      std::fprintf(stderr, "cannot build the synthetic model\n");
      return 2;
    }
  }
  std::map<std::string, std::string> file_to_id;
  for (const auto& [id, doc] : ReadJsonl(set / "corpus.jsonl")) {
    std::string file = std::to_string(file_to_id.size()) + ".txt";
    file_to_id[file] = id;
    std::ofstream(work / "corpus" / file) << doc->optValue<std::string>("title", "") << "\n\n"
                                          << doc->getValue<std::string>("text") << "\n";
  }
  cloister::app::Config config;
  config.data_dir = work / "data";
  config.models_dir = models.empty() ? work / "no-models" : models;
  config.ingest.worker_binary = CLOISTER_BINARY;
  auto kb = cloister::app::KnowledgeBase::Open(config);
  if (!kb.ok()) return 2;
  auto start = std::chrono::steady_clock::now();
  auto report = (*kb)->Ingest({work / "corpus"}, {});
  if (!report.ok()) return 2;
  double ingest_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto status = (*kb)->Status(cloister::app::Caller::Everything());
  bool semantic = status.ok() && status->embedding_model.has_value();
  std::printf("set %s: %zu documents, %lld chunks, ingested in %.1f s (%s)\n", set.string().c_str(),
              file_to_id.size(), static_cast<long long>(report->chunks), ingest_s,
              semantic ? status->embedding_model->name.c_str() : "no embedding model");

  auto qrels = ReadQrels(set / "qrels" / "test.tsv");
  std::vector<Query> queries;
  for (const auto& [id, q] : ReadJsonl(set / "queries.jsonl")) {
    if (qrels.count(id)) queries.push_back({id, q->getValue<std::string>("text")});
  }
  std::vector<std::pair<std::string, SearchMode>> modes = {{"lexical", SearchMode::kLexical}};
  if (semantic) {
    modes.push_back({"vector", SearchMode::kVector});
    modes.push_back({"hybrid", SearchMode::kHybrid});
  }
  std::printf("%zu queries with judgements, k = %d\n\n%-8s %10s %10s %10s %12s\n", queries.size(), k,
              "mode", "recall@k", "MRR@k", "nDCG@k", "ms/query");
  for (const auto& [name, mode] : modes) {
    Metrics m;
    for (const auto& q : queries) {
      cloister::app::SearchOptions o;
      o.k = k * 3;  // several chunks can come from one document
      o.mode = mode;
      o.merge_neighbours = false;
      auto t0 = std::chrono::steady_clock::now();
      auto r = (*kb)->Search(cloister::app::Caller::Everything(), q.text, o);
      m.ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::vector<std::string> ranked;
      std::set<std::string> seen;
      if (r.ok()) {
        for (const auto& h : r->results) {
          std::string id = file_to_id[fs::path(h.path).filename().string()];
          if (seen.insert(id).second) ranked.push_back(id);
        }
      }
      Score(ranked, qrels[q.id], k, &m);
    }
    std::printf("%-8s %10.4f %10.4f %10.4f %12.2f\n", name.c_str(), m.recall / m.n, m.mrr / m.n,
                m.ndcg / m.n, m.ms / m.n);
  }
  kb->reset();
  fs::remove_all(work);
  return 0;
}
