// A synthetic collection of N chunks of real English text, with vectors, written straight into
// the catalog, and the embedding model of bge-small's shape that serves it: what bench_hybrid and
// bench_http search.
//
//   cloister::bench::PrepareData(dir, 10000);          // dir/data: catalog with chunks and vectors
//   cloister::bench::BuildEmbeddingModel(dir / "models");
//   // a KnowledgeBase (or `cloister serve`) on dir/data and dir/models now searches in hybrid mode
//
// Texts: N chunks of 120-200 words, 20 per document (consecutive ordinals, two chunks a page).
// Each chunk is a fresh draw of whole sentences from the English corpora of ../shared/eval
// (XQuAD paragraphs and PubMedQA abstracts): 70% from the four source passages its document is
// "about", 30% from anywhere, so terms cluster by document as in real collections. Vectors are
// 384-d unit vectors around 1000 random centres (as bench_search makes them; a document's chunks
// favour one centre), stored under the embedding model's file name, which the catalog setting
// `embedding_model` names as the active model's. The model is a random-weight BERT of
// bge-small-en-v1.5's shape, Q8_0, so the cost of embedding a query is the real model's.
// Needs CLOISTER_SHARED_DIR and CLOISTER_VOCAB_DIR defined, and links cloister::storage,
// cloister::llm and Poco::JSON.
#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cloister/llm/synthetic.h"
#include "cloister/storage/catalog.h"

namespace cloister::bench {

constexpr int kDim = 384;
constexpr int kClusters = 1000;
constexpr float kSpread = 0.05f;
constexpr int kChunksPerDocument = 20;
constexpr int kSourcesPerDocument = 4;
constexpr int kDocumentsPerBatch = 50;  // ~1000 vectors per PutEmbeddings transaction
constexpr char kEmbeddingModelFile[] = "bge-small-shape-q8_0.gguf";

// ---- Texts ----

inline std::vector<Poco::JSON::Object::Ptr> ReadJsonl(const fs::path& path) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path.string());
  std::vector<Poco::JSON::Object::Ptr> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty())
      out.push_back(Poco::JSON::Parser().parse(line).extract<Poco::JSON::Object::Ptr>());
  }
  return out;
}

struct Sentence {
  std::string text;
  int words = 0;
};

inline int CountWords(const std::string& s) {
  int words = 0;
  bool in_word = false;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// Cut after '.', '?' or '!' followed by a space and an upper-case letter or a digit.
inline std::vector<Sentence> SplitSentences(const std::string& text) {
  std::vector<Sentence> out;
  size_t start = 0;
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    char c = text[i], next = text[i + 2];
    if ((c == '.' || c == '?' || c == '!') && text[i + 1] == ' ' &&
        (std::isupper(static_cast<unsigned char>(next)) ||
         std::isdigit(static_cast<unsigned char>(next)))) {
      out.push_back({text.substr(start, i + 1 - start), 0});
      start = i + 2;
    }
  }
  if (start < text.size()) out.push_back({text.substr(start), 0});
  std::vector<Sentence> kept;
  for (auto& s : out) {
    s.words = CountWords(s.text);
    if (s.words >= 3) kept.push_back(std::move(s));
  }
  return kept;
}

struct Corpus {
  std::vector<Sentence> sentences;
  std::vector<std::vector<int>> passages;  // sentence indexes of each source passage
  std::vector<std::string> titles;         // of each source passage (may be empty)
};

inline Corpus ReadCorpus() {
  fs::path eval = fs::path(CLOISTER_SHARED_DIR) / "eval";
  Corpus corpus;
  for (const fs::path& file :
       {eval / "xquad" / "beir-en" / "corpus.jsonl", eval / "pubmedqa" / "beir" / "corpus.jsonl"}) {
    for (const auto& doc : ReadJsonl(file)) {
      std::vector<int> ids;
      for (auto& s : SplitSentences(doc->getValue<std::string>("text"))) {
        ids.push_back(static_cast<int>(corpus.sentences.size()));
        corpus.sentences.push_back(std::move(s));
      }
      if (ids.empty()) continue;
      corpus.passages.push_back(std::move(ids));
      std::string title = doc->optValue<std::string>("title", "");
      std::replace(title.begin(), title.end(), '_', ' ');
      corpus.titles.push_back(title);
    }
  }
  return corpus;
}

// The questions of both sets, interleaved in a fixed random order.
inline std::vector<std::string> ReadQueries() {
  fs::path eval = fs::path(CLOISTER_SHARED_DIR) / "eval";
  std::vector<std::string> queries;
  for (const fs::path& file : {eval / "xquad" / "beir-en" / "queries.jsonl",
                               eval / "pubmedqa" / "beir" / "queries.jsonl"}) {
    for (const auto& q : ReadJsonl(file)) queries.push_back(q->getValue<std::string>("text"));
  }
  std::shuffle(queries.begin(), queries.end(), std::mt19937_64(7));
  return queries;
}

// One chunk: 120-200 words of whole sentences, 70% from `home` (the document's own sentences,
// taken in a shuffled order, none twice) and 30% from the whole corpus.
inline std::string MakeChunk(const Corpus& corpus, std::vector<int>& home, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> target_words(120, 200);
  std::uniform_int_distribution<size_t> any(0, corpus.sentences.size() - 1);
  std::bernoulli_distribution global(0.3);
  std::shuffle(home.begin(), home.end(), rng);
  int target = target_words(rng), words = 0;
  std::string text;
  for (size_t next_home = 0; words < target;) {
    bool from_home = next_home < home.size() && !global(rng);
    const Sentence& s = corpus.sentences[from_home ? home[next_home++] : any(rng)];
    if (words > 0 && words + s.words > 200) break;
    text += (text.empty() ? "" : " ") + s.text;
    words += s.words;
  }
  return text;
}

// ---- Vectors ----

inline void Normalise(float* v) {
  double s = 0;
  for (int i = 0; i < kDim; ++i) s += double(v[i]) * v[i];
  auto inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int i = 0; i < kDim; ++i) v[i] *= inv;
}

inline std::vector<float> Centres() {
  std::mt19937_64 rng(42);
  std::normal_distribution<float> g;
  std::vector<float> c(static_cast<size_t>(kClusters) * kDim);
  for (float& x : c) x = g(rng);
  for (int i = 0; i < kClusters; ++i) Normalise(c.data() + static_cast<size_t>(i) * kDim);
  return c;
}

inline std::vector<float> ClusteredVector(const std::vector<float>& centres, int centre,
                                          std::mt19937_64& rng) {
  std::normal_distribution<float> noise(0.0f, kSpread);
  std::vector<float> v(kDim);
  const float* c = centres.data() + static_cast<size_t>(centre) * kDim;
  for (int j = 0; j < kDim; ++j) v[j] = c[j] + noise(rng);
  Normalise(v.data());
  return v;
}

// ---- Population ----

struct Population {
  double seconds = 0, documents_s = 0, embeddings_s = 0;
  int64_t words = 0;
};

inline storage::DocumentTree MakeDocument(const Corpus& corpus, int64_t number, int64_t collection,
                                          std::mt19937_64& rng, int64_t* words) {
  std::uniform_int_distribution<size_t> pick(0, corpus.passages.size() - 1);
  std::vector<int> home;
  std::string title;
  for (int s = 0; s < kSourcesPerDocument; ++s) {
    size_t p = pick(rng);
    if (title.empty()) title = corpus.titles[p];
    home.insert(home.end(), corpus.passages[p].begin(), corpus.passages[p].end());
  }
  storage::DocumentTree tree;
  storage::Document& d = tree.document;
  d.collection_id = collection;
  d.path = "/bench/corpus/doc-" + std::to_string(number) + ".txt";
  d.content_hash = "bench-" + std::to_string(number);
  d.type = "text";
  d.title =
      title.empty() ? "Abstracts " + std::to_string(number) : title + " " + std::to_string(number);
  d.status = storage::DocumentStatus::kReady;
  d.page_count = kChunksPerDocument / 2;
  for (int i = 0; i < kChunksPerDocument; ++i) {
    storage::Chunk c;
    c.ordinal = i;
    c.text = MakeChunk(corpus, home, rng);
    c.page_start = c.page_end = 1 + i / 2;
    d.size_bytes += static_cast<int64_t>(c.text.size());
    *words += CountWords(c.text);
    tree.chunks.push_back(std::move(c));
  }
  return tree;
}

// The vectors of one document's chunks: 70% near its own centre, the rest anywhere.
inline void AddVectors(const std::vector<storage::Chunk>& chunks, const std::vector<float>& centres,
                       std::mt19937_64& rng, std::vector<storage::Embedding>* out) {
  std::uniform_int_distribution<int> any(0, kClusters - 1);
  std::bernoulli_distribution elsewhere(0.3);
  int home = any(rng);
  for (const auto& c : chunks) {
    out->push_back({c.id, ClusteredVector(centres, elsewhere(rng) ? any(rng) : home, rng)});
  }
}

inline Population Populate(const fs::path& data, int64_t chunks, const Corpus& corpus) {
  auto start = Clock::now();
  auto catalog = storage::Catalog::Open(data / "cloister.db");
  if (!catalog.ok()) Die("cannot open the catalog: " + catalog.status().ToString());
  auto collection = catalog->EnsureCollection(storage::kDefaultCollection, "");
  if (!collection.ok()) Die(collection.status().ToString());
  std::vector<float> centres = Centres();
  std::mt19937_64 text_rng(1), vector_rng(2);
  Population p;
  int64_t documents = chunks / kChunksPerDocument;
  std::vector<storage::Embedding> batch;
  for (int64_t n = 0; n < documents; ++n) {
    auto t = Clock::now();
    auto id = catalog->AddDocumentTree(MakeDocument(corpus, n, *collection, text_rng, &p.words));
    if (!id.ok()) Die("cannot store a document: " + id.status().ToString());
    auto stored = catalog->GetChunks(*id);
    if (!stored.ok()) Die(stored.status().ToString());
    p.documents_s += Seconds(t);
    AddVectors(*stored, centres, vector_rng, &batch);
    if ((n + 1) % kDocumentsPerBatch == 0 || n + 1 == documents) {
      t = Clock::now();
      Check(catalog->PutEmbeddings(kEmbeddingModelFile, batch), "storing vectors");
      p.embeddings_s += Seconds(t);
      batch.clear();
    }
    if ((n + 1) % 5000 == 0) {
      std::fprintf(stderr, "  %lld chunks stored, %.0f s\n",
                   static_cast<long long>((n + 1) * kChunksPerDocument), Seconds(start));
    }
  }
  Check(catalog->SetSetting("embedding_model", kEmbeddingModelFile), "setting embedding_model");
  p.seconds = Seconds(start);
  return p;
}

inline void BuildEmbeddingModel(const fs::path& models) {
  fs::path q8 = models / kEmbeddingModelFile;
  if (fs::exists(q8)) return;
  BuildQuantizedModel(llm::SyntheticModelSpec::BgeSmallShape(fs::path(CLOISTER_VOCAB_DIR) /
                                                             "ggml-vocab-bert-bge.gguf"),
                      q8, "Q8_0");
}

// The data folder at `dir`, populated with `chunks` chunks unless a completed population of that
// size is already there.
inline void PrepareData(const fs::path& dir, int64_t chunks) {
  fs::path data = dir / "data", marker = dir / "populated";
  std::string done;
  if (std::ifstream in(marker); in) in >> done;
  if (done == std::to_string(chunks)) {
    std::printf("population: reusing %s (%lld chunks)\n", dir.c_str(),
                static_cast<long long>(chunks));
    return;
  }
  fs::remove_all(data);
  fs::remove(marker);
  auto t = Clock::now();
  Corpus corpus = ReadCorpus();
  std::printf("population: %zu sentences from %zu passages (XQuAD en, PubMedQA), read in %.1f s\n",
              corpus.sentences.size(), corpus.passages.size(), Seconds(t));
  std::fflush(stdout);
  Population p = Populate(data, chunks, corpus);
  std::printf(
      "population: %lld chunks in %lld documents, %.0f words a chunk, %.1f s "
      "(%.0f chunks/s; documents and FTS %.1f s, vectors %.1f s)\n",
      static_cast<long long>(chunks), static_cast<long long>(chunks / kChunksPerDocument),
      static_cast<double>(p.words) / static_cast<double>(chunks), p.seconds,
      static_cast<double>(chunks) / p.seconds, p.documents_s, p.embeddings_s);
  std::ofstream(marker) << chunks << "\n";
}

}  // namespace cloister::bench
