// Collections and permissions at the facade: files land in the collection whose folder holds
// them, and a caller limited to some collections is ranked, counted and answered from those
// only. Vector mode uses the tiny random embedding model.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "cloister/app/accounts.h"
#include "cloister/app/knowledge_base.h"
#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

constexpr char kQuery[] = "zanzibar quarterly cobalt shipment ledger";

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class PermissionTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_ / "data";
    config_.models_dir = dir_ / "models";
    config_.inbox_dir = dir_ / "inbox";
    config_.ingest.worker_binary = CLOISTER_BINARY;
    fs::create_directories(config_.models_dir);
    fs::copy_file(fixtures::TinyEmbeddingModel(), config_.models_dir / "tiny-embed.gguf");
    // The hidden collection holds the query itself, word for word: the best match there is.
    Write(dir_ / "secret/exact.txt", kQuery);
    for (int i = 0; i < 4; ++i) {
      Write(dir_ / ("secret/near" + std::to_string(i) + ".txt"),
            std::string(kQuery) + " item " + std::to_string(i));
    }
    const char* topics[] = {"parking rules for staff", "canteen opening hours", "badge collection",
                            "holiday request forms", "printer maintenance", "fire drill route"};
    for (int i = 0; i < 6; ++i) {
      Write(dir_ / ("public/p" + std::to_string(i) + ".txt"),
            std::string("Notice ") + std::to_string(i) + ": " + topics[i] + ".");
    }
    auto accounts = Accounts::Open(config_);
    ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
    ASSERT_TRUE((*accounts)->AddCollection("secret", (dir_ / "secret").string()).ok());
    ASSERT_TRUE((*accounts)->AddCollection("public", (dir_ / "public").string()).ok());
    auto bob = (*accounts)->AddUser("bob", "user", "not-a-real-hash");
    ASSERT_TRUE(bob.ok()) << bob.status().ToString();
    bob_ = Caller::User(bob->id);
    ASSERT_TRUE((*accounts)->Grant("bob", "public").ok());

    auto kb = KnowledgeBase::Open(config_);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    auto r = kb_->Ingest({dir_ / "secret", dir_ / "public"}, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->failed.size(), 0u);
    ASSERT_EQ(r->documents, 11);
  }

  SearchResults Find(const Caller& caller, SearchMode mode, int k, SearchFilters filters = {}) {
    SearchOptions o;
    o.k = k;
    o.mode = mode;
    o.filters = std::move(filters);
    auto r = kb_->Search(caller, kQuery, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : SearchResults{};
  }
  bool InSecret(const std::string& path) const {
    return path.rfind((dir_ / "secret").string() + "/", 0) == 0;
  }

  fixtures::TempDir dir_;
  Config config_;
  Caller bob_;
  std::unique_ptr<KnowledgeBase> kb_;
};

TEST_F(PermissionTest, RestrictedVectorSearchReturnsKAllowedResultsThoughHiddenOnesRankHigher) {
  // Everything: the hidden collection's passages come first (the exact query is among them).
  SearchResults all = Find(Caller::Everything(), SearchMode::kVector, 5);
  ASSERT_EQ(all.results.size(), 5u);
  EXPECT_TRUE(InSecret(all.results.front().path)) << all.results.front().path;
  EXPECT_GE(std::count_if(all.results.begin(), all.results.end(),
                          [&](const SearchHit& h) { return InSecret(h.path); }),
            3);

  SearchResults mine = Find(bob_, SearchMode::kVector, 5);
  ASSERT_EQ(mine.results.size(), 5u) << "k results from the allowed collection";
  for (const auto& h : mine.results) {
    EXPECT_FALSE(InSecret(h.path)) << h.path;
    EXPECT_EQ(h.text.find("zanzibar"), std::string::npos);
  }
}

TEST_F(PermissionTest, RestrictedLexicalAndHybridSearchesNeverShowTheHiddenWord) {
  for (SearchMode mode : {SearchMode::kLexical, SearchMode::kHybrid}) {
    SearchResults mine = Find(bob_, mode, 10);
    for (const auto& h : mine.results) EXPECT_FALSE(InSecret(h.path)) << h.path;
  }
  EXPECT_TRUE(Find(bob_, SearchMode::kLexical, 10).results.empty());
  EXPECT_FALSE(Find(Caller::Everything(), SearchMode::kLexical, 10).results.empty());
}

TEST_F(PermissionTest, ChoosingAHiddenCollectionIsLikeNamingAMissingOne) {
  SearchOptions o;
  o.filters.collections = {"secret"};
  auto hidden = kb_->Search(bob_, kQuery, o);
  o.filters.collections = {"no-such-collection"};
  auto missing = kb_->Search(bob_, kQuery, o);
  ASSERT_EQ(hidden.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(hidden.status().message(), "no collection named 'secret'");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  // The granted one narrows, and still reads nothing hidden.
  o.filters.collections = {"public"};
  auto granted = kb_->Search(bob_, "notice", o);
  ASSERT_TRUE(granted.ok());
  EXPECT_FALSE(granted->results.empty());
}

TEST_F(PermissionTest, LibraryStatusDocumentsAndJobsCountOnlyReadableCollections) {
  auto everything = kb_->ListDocuments(Caller::Everything(), 0, 100);
  auto mine = kb_->ListDocuments(bob_, 0, 100);
  ASSERT_TRUE(everything.ok() && mine.ok());
  EXPECT_EQ(everything->total, 11);
  EXPECT_EQ(mine->total, 6);
  EXPECT_EQ(mine->documents.size(), 6u);
  int64_t hidden_id = 0;
  for (const auto& d : everything->documents) {
    if (InSecret(d.path)) hidden_id = d.id;
  }
  ASSERT_NE(hidden_id, 0);
  auto doc = kb_->GetDocument(bob_, hidden_id);
  auto none = kb_->GetDocument(bob_, 999999);
  EXPECT_EQ(doc.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(doc.status().message(), "document " + std::to_string(hidden_id) + " does not exist");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(kb_->DocumentPassages(bob_, hidden_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(kb_->OriginalFile(bob_, hidden_id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(kb_->GetDocument(Caller::Everything(), hidden_id).ok());

  auto all_status = kb_->Status(Caller::Everything());
  auto my_status = kb_->Status(bob_);
  ASSERT_TRUE(all_status.ok() && my_status.ok());
  EXPECT_EQ(all_status->documents, 11);
  EXPECT_EQ(my_status->documents, 6);
  EXPECT_EQ(my_status->chunks, 6);
  EXPECT_EQ(my_status->embeddings, 6);
  EXPECT_EQ(my_status->index_size, 6);
  EXPECT_EQ(my_status->jobs_by_state["done"], 6);
}

TEST_F(PermissionTest, ServeWatchesEachCollectionsFolderAndFilesItsNewFilesThere) {
  ASSERT_TRUE(kb_->StartBackground().ok());
  Write(dir_ / "public/late.txt", "Notice 7: the lift is out of order.");
  Write(dir_ / "secret/late.txt", "A late zanzibar memo.");
  int64_t mine = 0, all = 0;
  for (int i = 0; i < 300 && (mine < 7 || all < 13); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto m = kb_->ListDocuments(bob_, 0, 100);
    auto a = kb_->ListDocuments(Caller::Everything(), 0, 100);
    if (m.ok()) mine = m->total;
    if (a.ok()) all = a->total;
  }
  kb_->StopBackground();
  EXPECT_EQ(mine, 7) << "the new file in public/ is bob's";
  EXPECT_EQ(all, 13);
  auto list = kb_->ListDocuments(Caller::Everything(), 0, 100);
  ASSERT_TRUE(list.ok());
  for (const auto& d : list->documents) {
    EXPECT_EQ(d.collection, InSecret(d.path) ? "secret" : "public") << d.path;
  }
}

TEST_F(PermissionTest, AnswersCiteOnlyReadableDocuments) {
  AskOptions o;
  o.k = 5;
  auto mine = kb_->Ask(bob_, std::string("What about the ") + kQuery + "?", o);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  EXPECT_EQ(mine->text.find("zanzibar"), std::string::npos);
  for (const auto& s : mine->sources) EXPECT_FALSE(InSecret(s.passage.path));
  auto all = kb_->Ask(Caller::Everything(), std::string("What about the ") + kQuery + "?", o);
  ASSERT_TRUE(all.ok());
  EXPECT_NE(all->text.find("zanzibar"), std::string::npos);
}

TEST_F(PermissionTest, UploadsGoOnlyIntoCollectionsTheCallerMayWrite) {
  auto stage = [&](const std::string& name) {
    fs::path p = dir_ / "staging" / name;
    Write(p, "An uploaded note.");
    return p;
  };
  auto refused = kb_->AddUpload(bob_, stage("a.txt"), "a.txt", "secret");
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  auto unknown = kb_->AddUpload(bob_, stage("b.txt"), "b.txt", "nowhere");
  EXPECT_EQ(unknown.status().code(), StatusCode::kPermissionDenied);
  auto to_default = kb_->AddUpload(bob_, stage("c.txt"), "c.txt", "");
  EXPECT_EQ(to_default.status().code(), StatusCode::kPermissionDenied) << "no grant on default";
  auto granted = kb_->AddUpload(bob_, stage("d.txt"), "d.txt", "public");
  ASSERT_TRUE(granted.ok()) << granted.status().ToString();
  auto admin = kb_->AddUpload(Caller::Everything(), stage("e.txt"), "e.txt", "nowhere");
  EXPECT_EQ(admin.status().code(), StatusCode::kNotFound);
  // Bob follows his own job, not one in the hidden collection.
  EXPECT_TRUE(kb_->GetJob(bob_, granted->id).ok());
  auto secret_job = kb_->AddUpload(Caller::Everything(), stage("f.txt"), "f.txt", "secret");
  ASSERT_TRUE(secret_job.ok());
  EXPECT_EQ(kb_->GetJob(bob_, secret_job->id).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace cloister::app
