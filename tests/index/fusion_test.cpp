#include "cloister/index/fusion.h"

#include <gtest/gtest.h>

namespace cloister::index {
namespace {

TEST(FuseReciprocalRankTest, IdRankedHighByBothBeatsIdRankedFirstByOne) {
  auto fused = FuseReciprocalRank({{1, 2, 3}, {2, 4, 1}});
  ASSERT_GE(fused.size(), 4u);
  EXPECT_EQ(fused[0].id, 2);
  EXPECT_EQ(fused[1].id, 1);
  EXPECT_NEAR(fused[0].score, 1.0 / 62 + 1.0 / 61, 1e-12);
}

TEST(FuseReciprocalRankTest, WeightsShiftTheOrder) {
  auto fused = FuseReciprocalRank({{1}, {2}}, {1.0, 2.0});
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_EQ(fused[0].id, 2);
}

TEST(FuseReciprocalRankTest, TiesKeepFirstAppearanceAndEmptyInputIsEmpty) {
  auto fused = FuseReciprocalRank({{7}, {9}});
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_EQ(fused[0].id, 7);
  EXPECT_TRUE(FuseReciprocalRank({}).empty());
  EXPECT_TRUE(FuseReciprocalRank({{}, {}}).empty());
}

TEST(FuseReciprocalRankTest, ConstantBelowOneIsClamped) {
  auto fused = FuseReciprocalRank({{5}}, {}, -3);
  ASSERT_EQ(fused.size(), 1u);
  EXPECT_NEAR(fused[0].score, 0.5, 1e-12);
}

}  // namespace
}  // namespace cloister::index
