// Helpers shared by the storage tests: a temporary folder and status matchers.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "cloister/core/status.h"

namespace cloister::storage::testing {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "cloister-storage-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline Status StatusOf(const Status& status) { return status; }
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.status();
}

}  // namespace cloister::storage::testing

// Expect or assert that a Status or Result is ok, printing the error otherwise.
#define EXPECT_OK(expr)                                                          \
  do {                                                                           \
    const ::cloister::Status _st = ::cloister::storage::testing::StatusOf(expr); \
    EXPECT_TRUE(_st.ok()) << _st.ToString();                                     \
  } while (0)
#define ASSERT_OK(expr)                                                          \
  do {                                                                           \
    const ::cloister::Status _st = ::cloister::storage::testing::StatusOf(expr); \
    ASSERT_TRUE(_st.ok()) << _st.ToString();                                     \
  } while (0)

// ASSERT_OK_AND_ASSIGN(Database db, Database::Open(path));
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(CLOISTER_CONCAT(_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)   \
  auto tmp = (expr);                                \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

// The code of a Status or Result.
#define CODE_OF(expr) (::cloister::storage::testing::StatusOf(expr).code())
