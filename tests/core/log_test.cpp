#include "cloister/core/log.h"

#include <gtest/gtest.h>

namespace cloister::log {
namespace {

TEST(LogTest, ParsesEveryLevelNameAndRejectsOthers) {
  Level level = Level::kInfo;
  EXPECT_TRUE(ParseLevel("debug", &level));
  EXPECT_EQ(level, Level::kDebug);
  EXPECT_TRUE(ParseLevel("error", &level));
  EXPECT_EQ(level, Level::kError);
  EXPECT_FALSE(ParseLevel("loud", &level));
  EXPECT_EQ(level, Level::kError);
}

TEST(LogTest, LinesBelowTheThresholdAreDroppedAndFieldsAreQuoted) {
  Level before = GetLevel();
  SetLevel(Level::kWarn);
  testing::internal::CaptureStderr();
  Info("test", "hidden");
  Warn("test", "shown", {{"path", "a b.pdf"}, {"n", "3"}});
  std::string out = testing::internal::GetCapturedStderr();
  SetLevel(before);
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("warn test: shown path=\"a b.pdf\" n=3"), std::string::npos) << out;
}

}  // namespace
}  // namespace cloister::log
