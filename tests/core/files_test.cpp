#include "cloister/core/files.h"

#include <gtest/gtest.h>

#include <fstream>

#include "fixtures/fixtures.h"

namespace cloister {
namespace {

TEST(ReadFileTest, MissingFileIsNotFoundNamingThePath) {
  fixtures::TempDir dir;
  auto r = ReadFile(dir / "nope.txt");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope.txt"), std::string::npos);
}

TEST(ReadFileTest, FileOverTheLimitIsInvalidArgument) {
  fixtures::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "big", std::string(100, 'x')).ok());
  auto r = ReadFile(dir / "big", 99);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(ReadFileHeadTest, ReadsAtMostNBytesAndAllOfAShortFile) {
  fixtures::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "f", "abcdef").ok());
  EXPECT_EQ(*ReadFileHead(dir / "f", 3), "abc");
  EXPECT_EQ(*ReadFileHead(dir / "f", 100), "abcdef");
  EXPECT_EQ(ReadFileHead(dir / "none", 3).status().code(), StatusCode::kNotFound);
}

TEST(WriteFileAtomicTest, WritesBytesExactlyIncludingZeros) {
  fixtures::TempDir dir;
  std::string data("a\0b\xff", 4);
  ASSERT_TRUE(WriteFileAtomic(dir / "f.bin", data).ok());
  EXPECT_EQ(*ReadFile(dir / "f.bin"), data);
}

TEST(WriteFileAtomicTest, ReplacesExistingFileAndLeavesNoTemporary) {
  fixtures::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "f", "old").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "f", "new").ok());
  EXPECT_EQ(*ReadFile(dir / "f"), "new");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(WriteFileAtomicTest, MissingFolderIsAnErrorNamingTheFile) {
  fixtures::TempDir dir;
  Status s = WriteFileAtomic(dir / "no" / "such" / "f", "x");
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("no/such/f"), std::string::npos);
}

TEST(EnsureDirectoryTest, CreatesNestedFoldersAndRefusesAFileInTheWay) {
  fixtures::TempDir dir;
  EXPECT_TRUE(EnsureDirectory(dir / "a" / "b").ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir / "a" / "b"));
  ASSERT_TRUE(WriteFileAtomic(dir / "file", "x").ok());
  EXPECT_EQ(EnsureDirectory(dir / "file").code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace cloister
