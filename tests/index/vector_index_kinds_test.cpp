// The kinds of vector index (exact, HNSW, HNSW over SQ8, IVF): automatic choice, rebuilds,
// tombstones, compaction and persistence.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <unordered_set>

#include "cloister/index/vector_index.h"
#include "fixtures/fixtures.h"

namespace cloister::index {
namespace {

std::vector<IdVector> RandomUnit(int dim, int n, uint32_t seed, int64_t first_id = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<IdVector> out;
  for (int i = 0; i < n; ++i) {
    std::vector<float> v(static_cast<size_t>(dim));
    double s = 0;
    for (float& x : v) {
      x = g(rng);
      s += x * x;
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
    out.push_back({first_id + i, std::move(v)});
  }
  return out;
}

std::unique_ptr<VectorIndex> MustBuild(int dim, const std::vector<IdVector>& all,
                                       const VectorIndexOptions& options) {
  auto built = VectorIndex::Build(dim, all, options);
  EXPECT_TRUE(built.ok()) << built.status().ToString();
  return built.ok() ? std::move(built).value() : nullptr;
}

std::vector<int64_t> Ids(const VectorIndex& index, const std::vector<float>& q, int k) {
  auto hits = index.Search(q, k);
  EXPECT_TRUE(hits.ok()) << hits.status().ToString();
  std::vector<int64_t> ids;
  if (hits.ok()) {
    for (const auto& h : *hits) ids.push_back(h.id);
  }
  return ids;
}

double RecallAt10(const VectorIndex& exact, const VectorIndex& approx,
                  const std::vector<IdVector>& queries) {
  double sum = 0;
  for (const auto& q : queries) {
    auto truth = Ids(exact, q.vector, 10);
    auto got = Ids(approx, q.vector, 10);
    std::unordered_set<int64_t> t(truth.begin(), truth.end());
    sum += static_cast<double>(
               std::count_if(got.begin(), got.end(), [&](int64_t id) { return t.count(id) > 0; })) /
           10.0;
  }
  return sum / static_cast<double>(queries.size());
}

TEST(ChooseFactoryTest, ExactBelowTheThresholdApproximateFromIt) {
  VectorIndexOptions o{.exact_below = 1000};
  EXPECT_EQ(ChooseFactory(0, 384, o), "Flat");
  EXPECT_EQ(ChooseFactory(999, 384, o), "Flat");
  EXPECT_EQ(ChooseFactory(1000, 384, o), "IVF16,SQ8");   // 39+ training vectors per list
  EXPECT_EQ(ChooseFactory(1000, 128, o), "IVF16,Flat");  // float storage stays under 1 GiB / 1M
  EXPECT_EQ(ChooseFactory(1000, 129, o), "IVF16,SQ8");
}

TEST(ChooseFactoryTest, ListsGrowWithTheSquareRootOfTheCollection) {
  VectorIndexOptions o;
  EXPECT_EQ(ChooseFactory(50'000, 384, o), "IVF512,SQ8");
  EXPECT_EQ(ChooseFactory(100'000, 384, o), "IVF1024,SQ8");
  EXPECT_EQ(ChooseFactory(1'000'000, 384, o), "IVF2048,SQ8");
  EXPECT_EQ(ChooseFactory(100'000'000, 384, o), "IVF4096,SQ8");
}

TEST(ChooseFactoryTest, OverrideWinsAtEverySize) {
  VectorIndexOptions o{.factory = "IVF64,SQ8", .exact_below = 10};
  EXPECT_EQ(ChooseFactory(0, 32, o), "IVF64,SQ8");
  EXPECT_EQ(ChooseFactory(1'000'000, 32, o), "IVF64,SQ8");
}

TEST(VectorIndexBuildTest, AutomaticKindIsExactBelowThresholdAndApproximateAbove) {
  VectorIndexOptions o{.exact_below = 500};
  auto small = MustBuild(16, RandomUnit(16, 499, 1), o);
  auto large = MustBuild(16, RandomUnit(16, 500, 1), o);
  ASSERT_TRUE(small && large);
  EXPECT_EQ(small->factory(), "Flat");
  EXPECT_EQ(large->factory(), "IVF8,Flat");
  EXPECT_EQ(large->kind(), "IDMap2,IVF8,Flat (inner product)");
  EXPECT_EQ(large->size(), 500);
  auto created = VectorIndex::Create(16, o);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ((*created)->factory(), "Flat");
}

TEST(VectorIndexBuildTest, ApproximateRecallAt10IsAtLeastPointNineOn20kVectors) {
  auto data = RandomUnit(16, 20000, 2);
  auto queries = RandomUnit(16, 200, 3);
  auto exact = MustBuild(16, data, {.factory = "Flat"});
  auto approx = MustBuild(16, data, {.exact_below = 1000});
  ASSERT_TRUE(exact && approx);
  ASSERT_EQ(approx->factory(), "IVF512,Flat");
  EXPECT_GE(RecallAt10(*exact, *approx, queries), 0.9);
}

TEST(VectorIndexBuildTest, QuantizedKindsReachRecallAt10OfPointNine) {
  auto data = RandomUnit(16, 5000, 4);
  auto queries = RandomUnit(16, 100, 5);
  auto exact = MustBuild(16, data, {.factory = "Flat"});
  ASSERT_TRUE(exact);
  for (std::string factory : {"HNSW32", "HNSW32_SQ8", "IVF32,SQ8"}) {
    auto approx = MustBuild(16, data, {.factory = factory, .ivf_nprobe = 16});
    ASSERT_TRUE(approx);
    EXPECT_EQ(approx->factory(), factory);
    EXPECT_GE(RecallAt10(*exact, *approx, queries), 0.9) << factory;
  }
}

TEST(VectorIndexBuildTest, StreamingBuildTrainsOnHeldVectorsAndAddsEveryBatch) {
  auto data = RandomUnit(8, 3000, 6);
  size_t next = 0;
  auto source = [&](std::vector<IdVector>* batch) {
    for (; next < data.size() && batch->size() < 128; ++next) batch->push_back(data[next]);
    return Status::Ok();
  };
  auto built = VectorIndex::Build(8, 3000, source, {.factory = "IVF16,SQ8", .ivf_nprobe = 16});
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  EXPECT_EQ((*built)->size(), 3000);
  EXPECT_EQ(Ids(**built, data[1234].vector, 1).front(), 1234);
}

TEST(VectorIndexBuildTest, SourceErrorIsReturnedAsIs) {
  auto source = [](std::vector<IdVector>*) { return Unavailable("catalog busy"); };
  auto built = VectorIndex::Build(8, 10, source, {});
  EXPECT_EQ(built.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(built.status().message(), "catalog busy");
}

TEST(VectorIndexBuildTest, WrongDimensionOrNegativeIdIsInvalidArgumentNamingIt) {
  auto data = RandomUnit(8, 50, 7);
  data[20].vector.pop_back();
  auto built = VectorIndex::Build(8, data, {.exact_below = 10});
  ASSERT_EQ(built.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(built.status().message().find("chunk 20"), std::string::npos);
  auto negative = VectorIndex::Build(8, {{-5, std::vector<float>(8, 0.1f)}}, {});
  ASSERT_EQ(negative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("-5"), std::string::npos);
  auto approx = MustBuild(8, RandomUnit(8, 50, 8), {.exact_below = 10});
  ASSERT_TRUE(approx);
  EXPECT_EQ(approx->Search(std::vector<float>(9, 0.1f), 3).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(VectorIndexBuildTest, BadFactoryOrOptionIsInvalidArgument) {
  auto code = [](const VectorIndexOptions& o) { return VectorIndex::Create(8, o).status().code(); };
  EXPECT_EQ(code({.factory = "HNSW32,Flat,Flat"}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.factory = "IDMap2,Flat"}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.exact_below = -1}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.hnsw_ef_construction = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.hnsw_ef_search = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({.ivf_nprobe = 0}), StatusCode::kInvalidArgument);
  EXPECT_EQ(VectorIndex::Build(8, RandomUnit(8, 5, 1), {.factory = "Nope"}).status().code(),
            StatusCode::kInvalidArgument);
  auto index = VectorIndex::Create(8, {});
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->SetSearchOptions({.hnsw_ef_search = 0}).code(), StatusCode::kInvalidArgument);
}

TEST(VectorIndexBuildTest, UntrainedOverrideTrainsOnFirstAddOrIsFailedPreconditionWhenTooFew) {
  auto ivf = VectorIndex::Create(8, {.factory = "IVF64,Flat"});
  ASSERT_TRUE(ivf.ok());
  EXPECT_EQ((*ivf)->Add(RandomUnit(8, 10, 9)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*ivf)->size(), 0);
  auto sq = VectorIndex::Create(8, {.factory = "HNSW16_SQ8"});
  ASSERT_TRUE(sq.ok());
  EXPECT_EQ((*sq)->factory(), "HNSW16_SQ8");
  ASSERT_TRUE((*sq)->Add(RandomUnit(8, 300, 10)).ok());
  EXPECT_EQ((*sq)->size(), 300);
}

TEST(ShouldRebuildTest, ExactIndexGrownPastThresholdAndApproximateShrunkBelowHalf) {
  VectorIndexOptions o{.exact_below = 100};
  auto index = VectorIndex::Create(8, o);
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->Add(RandomUnit(8, 99, 11)).ok());
  EXPECT_FALSE(ShouldRebuild(**index, o));
  ASSERT_TRUE((*index)->Add(RandomUnit(8, 1, 12, 99)).ok());
  EXPECT_TRUE(ShouldRebuild(**index, o));
  auto approx = MustBuild(8, RandomUnit(8, 100, 13), o);
  ASSERT_TRUE(approx);
  EXPECT_FALSE(ShouldRebuild(*approx, o));
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 51; ++i) ids.push_back(i);
  EXPECT_EQ(approx->Remove(ids), 51);
  EXPECT_TRUE(ShouldRebuild(*approx, o));
  EXPECT_FALSE(ShouldRebuild(*approx, {.factory = "HNSW32", .exact_below = 100}));
}

TEST(ShouldRebuildTest, InvertedIndexGrownToWantTwiceItsListsIsRebuilt) {
  VectorIndexOptions o{.exact_below = 1000};
  auto index = MustBuild(8, RandomUnit(8, 4000, 22), o);
  ASSERT_TRUE(index);
  ASSERT_EQ(index->factory(), "IVF64,Flat");
  EXPECT_FALSE(ShouldRebuild(*index, o));
  ASSERT_TRUE(index->Add(RandomUnit(8, 900, 23, 4000)).ok());
  EXPECT_FALSE(ShouldRebuild(*index, o));  // 4900 vectors: still 64 lists of 39 or more
  ASSERT_TRUE(index->Add(RandomUnit(8, 100, 24, 4900)).ok());
  EXPECT_TRUE(ShouldRebuild(*index, o));  // 5000: 128 lists
}

// One index of every kind over the same vectors.
struct KindCase {
  std::string factory;
  VectorIndexOptions options;
};

std::vector<KindCase> AllKinds() {
  return {{"Flat", {.factory = "Flat"}},
          {"IVF16,Flat", {.exact_below = 10}},  // the automatic choice at 1200 vectors
          {"HNSW32", {.factory = "HNSW32"}},
          {"HNSW16_SQ8", {.factory = "HNSW16_SQ8"}},
          {"IVF16,Flat", {.factory = "IVF16,Flat", .ivf_nprobe = 16}},
          {"IVF16,SQ8", {.factory = "IVF16,SQ8", .ivf_nprobe = 16}}};
}

void ExpectAbsent(const VectorIndex& index, const std::vector<IdVector>& data,
                  const std::set<int64_t>& removed, const std::string& when) {
  for (int64_t id : removed) {
    for (int64_t hit : Ids(index, data[static_cast<size_t>(id)].vector, 50)) {
      ASSERT_EQ(removed.count(hit), 0u) << index.kind() << " " << when << ": removed id " << hit;
    }
  }
}

TEST(VectorIndexKindsTest, RemovedIdsNeverComeBackBeforeOrAfterCompactOrReload) {
  fixtures::TempDir dir;
  auto data = RandomUnit(12, 1200, 14);
  std::set<int64_t> removed;
  for (int64_t id = 0; id < 1200; id += 7) removed.insert(id);
  for (const auto& c : AllKinds()) {
    auto index = MustBuild(12, data, c.options);
    ASSERT_TRUE(index);
    ASSERT_EQ(index->factory(), c.factory);
    EXPECT_EQ(index->Remove({removed.begin(), removed.end()}),
              static_cast<int64_t>(removed.size()));
    EXPECT_EQ(index->Remove({removed.begin(), removed.end()}), 0) << "already removed";
    EXPECT_EQ(index->size(), 1200 - static_cast<int64_t>(removed.size()));
    ExpectAbsent(*index, data, removed, "after Remove");
    ASSERT_TRUE(index->Save(dir / "kind.faiss").ok());
    auto loaded = VectorIndex::Load(dir / "kind.faiss");
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    ExpectAbsent(**loaded, data, removed, "after Load");
    ASSERT_TRUE(index->Compact().ok());
    ExpectAbsent(*index, data, removed, "after Compact");
    EXPECT_EQ(Ids(*index, data[1].vector, 1).front(), 1) << c.factory;
  }
}

TEST(VectorIndexKindsTest, CompactFreesTombstonedVectorsAndKeepsTheRest) {
  fixtures::TempDir dir;
  auto data = RandomUnit(32, 2000, 15);
  auto index = MustBuild(32, data, {.factory = "HNSW16_SQ8"});
  ASSERT_TRUE(index);
  ASSERT_TRUE(index->Save(dir / "full.faiss").ok());
  std::vector<int64_t> half;
  for (int64_t id = 0; id < 2000; id += 2) half.push_back(id);
  ASSERT_EQ(index->Remove(half), 1000);
  EXPECT_EQ(index->tombstones(), 1000);
  EXPECT_EQ(index->size(), 1000);
  ASSERT_TRUE(index->Compact().ok());
  EXPECT_EQ(index->tombstones(), 0);
  EXPECT_EQ(index->size(), 1000);
  EXPECT_EQ(index->factory(), "HNSW16_SQ8");
  ASSERT_TRUE(index->Save(dir / "compact.faiss").ok());
  EXPECT_LT(std::filesystem::file_size(dir / "compact.faiss"),
            std::filesystem::file_size(dir / "full.faiss") * 6 / 10);
  for (int64_t id = 1; id < 2000; id += 200) {  // odd ids were kept
    EXPECT_EQ(Ids(*index, data[static_cast<size_t>(id)].vector, 1).front(), id);
  }
}

TEST(VectorIndexKindsTest, FlatFreesRemovedVectorsAtOnce) {
  auto index = MustBuild(8, RandomUnit(8, 100, 16), {});
  ASSERT_TRUE(index);
  EXPECT_EQ(index->Remove({1, 2, 3}), 3);
  EXPECT_EQ(index->tombstones(), 0);
  EXPECT_EQ(index->size(), 97);
  EXPECT_TRUE(index->Compact().ok());
}

TEST(VectorIndexKindsTest, SaveAndLoadRoundTripEveryKindWithTombstones) {
  fixtures::TempDir dir;
  auto data = RandomUnit(12, 1200, 17);
  auto queries = RandomUnit(12, 20, 18);
  for (const auto& c : AllKinds()) {
    auto index = MustBuild(12, data, c.options);
    ASSERT_TRUE(index);
    index->Remove({5, 6, 7, 500});
    ASSERT_TRUE(index->Save(dir / "v.faiss").ok());
    auto loaded = VectorIndex::Load(dir / "v.faiss");
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ((*loaded)->kind(), index->kind());
    EXPECT_EQ((*loaded)->factory(), c.factory);
    EXPECT_EQ((*loaded)->size(), 1196);
    EXPECT_EQ((*loaded)->tombstones(), index->tombstones());
    for (const auto& q : queries) EXPECT_EQ(Ids(**loaded, q.vector, 10), Ids(*index, q.vector, 10));
    // The loaded index goes on working: replace, remove, compact.
    ASSERT_TRUE((*loaded)->Add({{600, data[1].vector}}).ok());
    EXPECT_EQ((*loaded)->Remove({5, 600}), 1);
    EXPECT_TRUE((*loaded)->Compact().ok());
    EXPECT_EQ((*loaded)->size(), 1195);
  }
}

TEST(VectorIndexKindsTest, MostlyTombstonedIndexStillReturnsEveryLiveVectorAskedFor) {
  auto data = RandomUnit(16, 3000, 21);
  std::vector<int64_t> gone;
  for (int64_t id = 0; id < 2900; ++id) gone.push_back(id);
  for (VectorIndexOptions o : {VectorIndexOptions{.factory = "HNSW32", .hnsw_ef_search = 4},
                               VectorIndexOptions{.factory = "IVF16,Flat", .ivf_nprobe = 1}}) {
    auto index = MustBuild(16, data, o);
    ASSERT_TRUE(index);
    ASSERT_EQ(index->Remove(gone), 2900);
    for (int k : {10, 100, 500}) {
      auto ids = Ids(*index, data[0].vector, k);
      EXPECT_EQ(ids.size(), std::min<size_t>(static_cast<size_t>(k), 100)) << index->kind();
      for (int64_t id : ids) EXPECT_GE(id, 2900);
    }
  }
}

// A reader's filter: the hidden vectors are the query's nearest neighbours, yet every kind
// returns k allowed ids (FAISS skips the others while searching, it does not trim its top k).
TEST(VectorIndexKindsTest, FilteredSearchReturnsKAllowedIdsWhenHiddenOnesAreNearer) {
  auto data = RandomUnit(16, 1200, 9);
  const std::vector<float> query = data[0].vector;
  // Ids 0..299 (hidden) lie around the query; the rest are random.
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0, 0.05f);
  for (int i = 0; i < 300; ++i) {
    double s = 0;
    for (size_t d = 0; d < 16; ++d) {
      data[static_cast<size_t>(i)].vector[d] = query[d] + noise(rng);
      s += data[static_cast<size_t>(i)].vector[d] * data[static_cast<size_t>(i)].vector[d];
    }
    for (float& x : data[static_cast<size_t>(i)].vector) x = static_cast<float>(x / std::sqrt(s));
  }
  std::vector<int64_t> allowed_ids;
  for (int64_t id = 300; id < 1200; id += 3) allowed_ids.push_back(id);  // 300 allowed
  IdFilter allowed(allowed_ids);
  for (const auto& [name, options] : AllKinds()) {
    auto index = MustBuild(16, data, options);
    ASSERT_NE(index, nullptr);
    auto unfiltered = index->Search(query, 20);
    ASSERT_TRUE(unfiltered.ok());
    for (const auto& h : *unfiltered) EXPECT_LT(h.id, 300) << name << ": the hidden ones are nearest";
    auto hits = index->Search(query, 20, &allowed);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    ASSERT_EQ(hits->size(), 20u) << name;
    for (const auto& h : *hits) EXPECT_TRUE(allowed.Allows(h.id)) << name << ": id " << h.id;
    // Fewer allowed than k: all of them, and nothing else.
    IdFilter few({301, 302, 999999});
    auto some = index->Search(query, 20, &few);
    ASSERT_TRUE(some.ok());
    EXPECT_EQ(some->size(), 2u) << name;
    IdFilter none(std::vector<int64_t>{});
    EXPECT_TRUE(index->Search(query, 20, &none)->empty()) << name;
  }
}

TEST(VectorIndexKindsTest, AddingAnExistingIdReplacesItInApproximateKinds) {
  auto data = RandomUnit(16, 1000, 19);
  auto index = MustBuild(16, data, {.factory = "HNSW32"});
  ASSERT_TRUE(index);
  ASSERT_TRUE(index->Add({{3, data[900].vector}, {4, data[4].vector}, {4, data[901].vector}}).ok());
  EXPECT_EQ(index->size(), 1000);
  EXPECT_EQ(index->tombstones(), 2);
  auto near_old = Ids(*index, data[3].vector, 5);
  EXPECT_TRUE(std::find(near_old.begin(), near_old.end(), 3) == near_old.end());
  auto near_new = Ids(*index, data[901].vector, 3);
  EXPECT_TRUE(std::find(near_new.begin(), near_new.end(), 4) != near_new.end());
}

TEST(VectorIndexKindsTest, SearchesRunWhileRemovingAndCompacting) {
  auto data = RandomUnit(16, 3000, 20);
  auto index = MustBuild(16, data, {.exact_below = 10});
  ASSERT_TRUE(index);
  std::atomic<int64_t> removed_below{0};  // ids below this are removed
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::thread searcher([&] {
    while (!done) {
      int64_t floor = removed_below.load();
      for (int64_t id : Ids(*index, data[0].vector, 20)) violations += id < floor ? 1 : 0;
    }
  });
  for (int64_t step = 1; step <= 10; ++step) {
    std::vector<int64_t> ids;
    for (int64_t id = (step - 1) * 100; id < step * 100; ++id) ids.push_back(id);
    index->Remove(ids);
    removed_below = step * 100;
    if (step % 5 == 0) {
      EXPECT_TRUE(index->Compact().ok());  // not ASSERT: the searcher thread must be joined
    }
  }
  done = true;
  searcher.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(index->size(), 2000);
}

}  // namespace
}  // namespace cloister::index
