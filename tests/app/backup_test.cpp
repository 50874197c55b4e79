// KnowledgeBase::Backup and RestoreBackup: a backup taken while ingestion runs restores into a
// data folder that answers searches exactly as the original did.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "cloister/app/knowledge_base.h"
#include "cloister/storage/catalog.h"
#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class BackupTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.ingest.worker_binary = CLOISTER_BINARY;
    fs::create_directories(config_.models_dir);
    fs::copy_file(fixtures::TinyEmbeddingModel(), config_.models_dir / "tiny-embed.gguf");
    Write(dir_ / "docs/refunds.txt", "Refund policy. Customers may return goods within thirty days for a full refund.");
    Write(dir_ / "docs/parking.txt", "Parking rules. Staff park in the north lot after six.");
    for (int i = 0; i < 20; ++i) {
      Write(dir_ / "more" / ("memo" + std::to_string(i) + ".txt"),
            "Memo " + std::to_string(i) + ". The fire drill is on Tuesday at ten, gather by the gate.");
    }
  }
  std::unique_ptr<KnowledgeBase> Open(const Config& config) {
    auto kb = KnowledgeBase::Open(config);
    EXPECT_TRUE(kb.ok()) << kb.status().ToString();
    return kb.ok() ? std::move(kb).value() : nullptr;
  }
  // Each result as (text, path, page, score): what a user sees.
  static std::vector<std::tuple<std::string, std::string, std::optional<int>, double>> Seen(KnowledgeBase& kb,
                                                                                            const std::string& q) {
    auto r = kb.Search(cloister::app::Caller::Everything(), q, SearchOptions{.k = 10, .mode = SearchMode::kHybrid});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::tuple<std::string, std::string, std::optional<int>, double>> out;
    if (r.ok()) {
      for (const auto& h : r->results) out.emplace_back(h.text, fs::path(h.path).filename().string(), h.page, h.score);
    }
    return out;
  }

  fixtures::TempDir dir_;
  Config config_;
};

TEST_F(BackupTest, ABackupTakenDuringIngestionRestoresToTheSameSearchResults) {
  auto kb = Open(config_);
  ASSERT_NE(kb, nullptr);
  ASSERT_TRUE(kb->Ingest({dir_ / "docs"}, {}).ok());
  // An upload: its file lives in the data folder and must come back with it.
  Write(dir_ / "staged", "Badges. Visitors collect a badge at reception.");
  auto job = kb->AddUpload(cloister::app::Caller::Everything(), dir_ / "staged", "badges.txt");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  // Queued: the backup holds it as a job, and the restored folder ingests it from its own copy.

  // Ingestion goes on while the backup is taken.
  std::thread ingest([&] { EXPECT_TRUE(kb->Ingest({dir_ / "more"}, {}).ok()); });
  auto backup = kb->Backup(dir_ / "backup");
  ingest.join();
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_GE(backup->files, 3);  // catalog, vector index, the upload
  EXPECT_GE(backup->documents, 2);
  EXPECT_TRUE(storage::Catalog::Check(dir_ / "backup" / "cloister.db").ok());
  EXPECT_EQ(kb->Backup(dir_ / "backup").status().code(), StatusCode::kFailedPrecondition) << "not empty";

  // What the original answers for the documents the backup holds.
  auto before_refund = Seen(*kb, "refund policy");
  auto before_badge = Seen(*kb, "badge reception");
  ASSERT_FALSE(before_refund.empty());

  Config other = config_;
  other.data_dir = dir_ / "restored";
  auto restored = RestoreBackup(other, dir_ / "backup", /*replace=*/false);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->chunks, backup->chunks);
  auto kb2 = Open(other);
  ASSERT_NE(kb2, nullptr);
  // The memos ingested during the backup may or may not be in it; the documents before it are,
  // and the restored folder ranks them as the original does once it holds the same documents.
  ASSERT_TRUE(kb2->Ingest({dir_ / "more"}, {}).ok());
  EXPECT_EQ(Seen(*kb2, "refund policy"), before_refund);
  EXPECT_EQ(Seen(*kb2, "badge reception"), before_badge);
  // The uploaded file is found in the new data folder.
  auto docs = kb2->ListDocuments(cloister::app::Caller::Everything(), 0, 100);
  ASSERT_TRUE(docs.ok());
  bool found = false;
  for (const auto& d : docs->documents) {
    if (d.name != "badges.txt") continue;
    auto file = kb2->OriginalFile(cloister::app::Caller::Everything(), d.id);
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_EQ(file->parent_path().parent_path(), other.uploads_dir());
    found = true;
  }
  EXPECT_TRUE(found);
}

TEST_F(BackupTest, RestoringOverDataNeedsReplaceAndMovesTheCurrentDataAside) {
  auto kb = Open(config_);
  ASSERT_NE(kb, nullptr);
  ASSERT_TRUE(kb->Ingest({dir_ / "docs"}, {}).ok());
  auto before = Seen(*kb, "refund policy");
  ASSERT_TRUE(kb->Backup(dir_ / "backup").ok());
  ASSERT_TRUE(kb->Ingest({dir_ / "more"}, {}).ok());  // after the backup: gone once restored
  kb.reset();

  EXPECT_EQ(RestoreBackup(config_, dir_ / "backup", false).status().code(), StatusCode::kFailedPrecondition);
  auto restored = RestoreBackup(config_, dir_ / "backup", true);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  kb = Open(config_);
  ASSERT_NE(kb, nullptr);
  EXPECT_EQ(Seen(*kb, "refund policy"), before);
  EXPECT_TRUE(Seen(*kb, "fire drill gate").size() <= before.size());
  auto docs = kb->ListDocuments(cloister::app::Caller::Everything(), 0, 100);
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->total, 2);
  // The replaced data is kept, not deleted.
  int aside = 0;
  for (const auto& e : fs::directory_iterator(config_.data_dir)) {
    if (e.path().filename().string().starts_with("replaced-")) {
      ++aside;
      EXPECT_TRUE(fs::exists(e.path() / "cloister.db"));
    }
  }
  EXPECT_EQ(aside, 1);
}

TEST_F(BackupTest, ADamagedBackupIsRefusedAndTouchesNothing) {
  auto kb = Open(config_);
  ASSERT_NE(kb, nullptr);
  ASSERT_TRUE(kb->Ingest({dir_ / "docs"}, {}).ok());
  ASSERT_TRUE(kb->Backup(dir_ / "backup").ok());
  kb.reset();
  {
    // Overwrite a page in the middle of the copy.
    std::fstream f(dir_ / "backup" / "cloister.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(dir_ / "backup" / "cloister.db") / 2));
    std::string junk(8192, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  Config other = config_;
  other.data_dir = dir_ / "restored";
  auto restored = RestoreBackup(other, dir_ / "backup", true);
  EXPECT_EQ(restored.status().code(), StatusCode::kDataLoss) << restored.status().ToString();
  EXPECT_FALSE(fs::exists(other.catalog_path()));
  EXPECT_EQ(RestoreBackup(other, dir_ / "nowhere", false).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace cloister::app
