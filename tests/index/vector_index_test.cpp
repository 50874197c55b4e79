#include "cloister/index/vector_index.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cloister/core/files.h"
#include "fixtures/fixtures.h"

namespace cloister::index {
namespace {

std::vector<float> Unit(int dim, std::mt19937& rng) {
  std::normal_distribution<float> n;
  std::vector<float> v(static_cast<size_t>(dim));
  double s = 0;
  for (float& x : v) {
    x = n(rng);
    s += x * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
  return v;
}

std::unique_ptr<VectorIndex> Filled(int dim, int n, std::vector<IdVector>* items) {
  std::mt19937 rng(7);
  auto index = VectorIndex::Create(dim, {});
  EXPECT_TRUE(index.ok());
  for (int i = 0; i < n; ++i) items->push_back({1000 + i, Unit(dim, rng)});
  EXPECT_TRUE((*index)->Add(*items).ok());
  return std::move(index).value();
}

TEST(VectorIndexTest, ExactSearchFindsEachVectorAsItsOwnNearestNeighbour) {
  std::vector<IdVector> items;
  auto index = Filled(32, 200, &items);
  EXPECT_EQ(index->size(), 200);
  for (int i = 0; i < 200; i += 37) {
    auto hits = index->Search(items[i].vector, 3);
    ASSERT_TRUE(hits.ok());
    ASSERT_EQ(hits->size(), 3u);
    EXPECT_EQ(hits->front().id, items[i].id);
    EXPECT_NEAR(hits->front().score, 1.0f, 1e-5);
    EXPECT_GE((*hits)[0].score, (*hits)[1].score);
  }
}

TEST(VectorIndexTest, RemovedIdsNeverComeBack) {
  std::vector<IdVector> items;
  auto index = Filled(16, 50, &items);
  EXPECT_EQ(index->Remove({items[3].id, 999999}), 1);
  auto hits = index->Search(items[3].vector, 50);
  ASSERT_TRUE(hits.ok());
  for (const auto& h : *hits) EXPECT_NE(h.id, items[3].id);
  EXPECT_EQ(index->size(), 49);
}

TEST(VectorIndexTest, AddingAnExistingIdReplacesItsVector) {
  std::vector<IdVector> items;
  auto index = Filled(16, 10, &items);
  ASSERT_TRUE(index->Add({{items[0].id, items[1].vector}}).ok());
  EXPECT_EQ(index->size(), 10);
  auto hits = index->Search(items[1].vector, 2);
  ASSERT_TRUE(hits.ok());
  EXPECT_NEAR((*hits)[1].score, 1.0f, 1e-5);
}

TEST(VectorIndexTest, WrongDimensionIsInvalidArgumentNamingTheChunk) {
  auto index = VectorIndex::Create(8, {});
  ASSERT_TRUE(index.ok());
  Status s = (*index)->Add({{42, std::vector<float>(7, 0.1f)}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("42"), std::string::npos);
  EXPECT_EQ((*index)->Search(std::vector<float>(9), 1).status().code(), StatusCode::kInvalidArgument);
}

TEST(VectorIndexTest, BadFactoryStringIsInvalidArgument) {
  EXPECT_EQ(VectorIndex::Create(8, {.factory = "NoSuchIndex"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VectorIndex::Create(0, {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(VectorIndexTest, SavedIndexLoadsWithIdenticalResults) {
  fixtures::TempDir dir;
  std::vector<IdVector> items;
  auto index = Filled(24, 100, &items);
  ASSERT_TRUE(index->Save(dir / "v.faiss").ok());
  auto loaded = VectorIndex::Load(dir / "v.faiss");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->size(), 100);
  EXPECT_EQ((*loaded)->kind(), index->kind());
  auto a = index->Search(items[5].vector, 10);
  auto b = (*loaded)->Search(items[5].vector, 10);
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ((*a)[i].id, (*b)[i].id);
}

TEST(VectorIndexTest, CorruptFileIsDataLossAndMissingFileIsNotFound) {
  fixtures::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "bad.faiss", "garbage bytes, not an index").ok());
  EXPECT_EQ(VectorIndex::Load(dir / "bad.faiss").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(VectorIndex::Load(dir / "none.faiss").status().code(), StatusCode::kNotFound);
}

TEST(VectorIndexTest, SearchOnEmptyIndexIsEmpty) {
  auto index = VectorIndex::Create(4, {});
  ASSERT_TRUE(index.ok());
  auto hits = (*index)->Search({1, 0, 0, 0}, 5);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(hits->empty());
}

}  // namespace
}  // namespace cloister::index
