// app::RunDoctor: each check finds what it is for, in a real data folder.
#include "cloister/app/doctor.h"

#include <gtest/gtest.h>

#include <fstream>

#include "cloister/app/knowledge_base.h"
#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

const DoctorCheck& Find(const std::vector<DoctorCheck>& checks, const std::string& name) {
  static const DoctorCheck kMissing{"", "missing", ""};
  for (const auto& c : checks) {
    if (c.name == name) return c;
  }
  return kMissing;
}

class DoctorTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.inbox_dir = dir_ / "inbox";
    config_.ingest.worker_binary = CLOISTER_BINARY;
  }
  fixtures::TempDir dir_;
  Config config_;
};

TEST_F(DoctorTest, AFreshInstallationWarnsOfWhatServeCreatesAndFailsNothing) {
  auto checks = RunDoctor(config_, "");
  for (const auto& c : checks) EXPECT_NE(c.state, "fail") << c.name << ": " << c.detail;
  EXPECT_EQ(Find(checks, "data folder").state, "warn");
  EXPECT_EQ(Find(checks, "catalog").state, "warn");
  EXPECT_EQ(Find(checks, "models").state, "warn");
  EXPECT_NE(Find(checks, "models").detail.find("lexical"), std::string::npos);
  EXPECT_EQ(Find(checks, "config").state, "ok");
  EXPECT_EQ(Find(checks, "clock").state, "ok");
  EXPECT_EQ(Find(checks, "disk space").state == "missing", false);
  EXPECT_FALSE(fs::exists(config_.data_dir)) << "the doctor creates nothing";
}

TEST_F(DoctorTest, ABrokenConfigurationFileIsNamedWithItsLine) {
  fs::path file = dir_ / "cloister.conf";
  std::ofstream(file) << "[server]\nport = 8080\nbnid = 0.0.0.0\n";
  const auto& check = Find(RunDoctor(config_, file), "config");
  EXPECT_EQ(check.state, "fail");
  EXPECT_NE(check.detail.find("cloister.conf:3"), std::string::npos) << check.detail;
  EXPECT_NE(check.detail.find("server.bind"), std::string::npos) << check.detail;
}

TEST_F(DoctorTest, AnOpenNetworkWithoutAuthenticationFails) {
  config_.bind = "0.0.0.0";
  EXPECT_EQ(Find(RunDoctor(config_, ""), "authentication").state, "fail");
  config_.auth = true;
  EXPECT_EQ(Find(RunDoctor(config_, ""), "authentication").state, "ok");
}

TEST_F(DoctorTest, AModelThatDoesNotLoadFails) {
  fs::create_directories(config_.models_dir);
  std::ofstream(config_.models_dir / "broken.gguf") << "GGUF but not really";
  const auto& check = Find(RunDoctor(config_, ""), "models");
  EXPECT_EQ(check.state, "fail");
  EXPECT_NE(check.detail.find("broken.gguf"), std::string::npos) << check.detail;
}

TEST_F(DoctorTest, FindsAnIndexThatDisagreesWithTheCatalogAndACorruptCatalog) {
  fs::create_directories(config_.models_dir);
  fs::copy_file(fixtures::TinyEmbeddingModel(), config_.models_dir / "tiny-embed.gguf");
  fs::create_directories(dir_ / "docs");
  std::ofstream(dir_ / "docs" / "a.txt") << "Refund policy. Customers may return goods within thirty days.";
  std::ofstream(dir_ / "docs" / "b.txt") << "Parking rules. Staff park in the north lot after six.";
  {
    auto kb = KnowledgeBase::Open(config_);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    auto report = (*kb)->Ingest({dir_ / "docs"}, nullptr);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
  }
  auto checks = RunDoctor(config_, "");
  EXPECT_EQ(Find(checks, "catalog").state, "ok") << Find(checks, "catalog").detail;
  EXPECT_EQ(Find(checks, "index").state, "ok") << Find(checks, "index").detail;
  EXPECT_EQ(Find(checks, "models").state, "warn") << "no chat model: " << Find(checks, "models").detail;

  fs::remove_all(config_.data_dir / "vectors");
  const auto& index = Find(RunDoctor(config_, ""), "index");
  EXPECT_EQ(index.state, "warn");
  EXPECT_NE(index.detail.find("rebuilds"), std::string::npos) << index.detail;

  for (const char* sidecar : {"cloister.db-wal", "cloister.db-shm"}) fs::remove(config_.data_dir / sidecar);
  {
    std::fstream db(config_.catalog_path(), std::ios::in | std::ios::out | std::ios::binary);
    db.seekp(4096);  // the second and third pages, headers included
    std::string garbage(8192, '\x5a');
    db.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto& catalog = Find(RunDoctor(config_, ""), "catalog");
  EXPECT_EQ(catalog.state, "fail") << catalog.detail;
}

}  // namespace
}  // namespace cloister::app
