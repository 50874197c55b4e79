// Ingestion jobs: reading, claiming (across connections and threads) and duplicate checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cloister/storage/catalog.h"
#include "storage_test_util.h"

namespace cloister::storage {
namespace {

using testing::TempDir;

class JobTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(dir_ / "catalog.db")); }

  int64_t Enqueue(const std::string& path) {
    Result<int64_t> id = catalog_->EnqueueJob(path, 1);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  TempDir dir_;
  std::optional<Catalog> catalog_;
};

TEST_F(JobTest, GetJobReadsBackTheStoredJob) {
  int64_t id = Enqueue("/inbox/a.pdf");
  ASSERT_OK(catalog_->SetJobState(id, JobState::kFailed, "parser crashed"));
  ASSERT_OK_AND_ASSIGN(Job job, catalog_->GetJob(id));
  EXPECT_EQ(job.id, id);
  EXPECT_EQ(job.path, "/inbox/a.pdf");
  EXPECT_EQ(job.collection_id, 1);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_EQ(job.error, "parser crashed");
  EXPECT_GT(job.created_at, 0);
}

TEST_F(JobTest, GetJobOfAnUnknownIdIsNotFound) {
  Result<Job> job = catalog_->GetJob(41);
  EXPECT_EQ(CODE_OF(job), StatusCode::kNotFound);
  EXPECT_NE(job.status().message().find("41"), std::string::npos);
}

TEST_F(JobTest, ClaimNextJobTakesTheOldestQueuedJobAndCountsAnAttempt) {
  int64_t done = Enqueue("/a");
  int64_t second = Enqueue("/b");
  int64_t third = Enqueue("/c");
  ASSERT_OK(catalog_->SetJobState(done, JobState::kDone));
  ASSERT_OK_AND_ASSIGN(std::optional<Job> claimed, catalog_->ClaimNextJob());
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->id, second);
  EXPECT_EQ(claimed->path, "/b");
  EXPECT_EQ(claimed->state, JobState::kExtracting);
  EXPECT_EQ(claimed->attempts, 1);
  ASSERT_OK_AND_ASSIGN(Job stored, catalog_->GetJob(second));
  EXPECT_EQ(stored.state, JobState::kExtracting);
  EXPECT_EQ(stored.attempts, 1);

  ASSERT_OK_AND_ASSIGN(claimed, catalog_->ClaimNextJob());
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->id, third);
  ASSERT_OK_AND_ASSIGN(claimed, catalog_->ClaimNextJob());
  EXPECT_FALSE(claimed.has_value());

  // A job reset after a crash is claimed again, counting a second attempt.
  ASSERT_OK(catalog_->ResetUnfinishedJobs());
  ASSERT_OK_AND_ASSIGN(claimed, catalog_->ClaimNextJob());
  ASSERT_TRUE(claimed.has_value());
  EXPECT_EQ(claimed->id, second);
  EXPECT_EQ(claimed->attempts, 2);
}

TEST_F(JobTest, ClaimNextJobWithNothingQueuedIsNullopt) {
  ASSERT_OK_AND_ASSIGN(std::optional<Job> claimed, catalog_->ClaimNextJob());
  EXPECT_FALSE(claimed.has_value());
  EXPECT_OK(catalog_->EnqueueJob("/a", 1));  // no transaction was left open
}

TEST_F(JobTest, TwoConnectionsClaimingAlternatelyNeverGetTheSameJob) {
  for (int i = 0; i < 10; ++i) Enqueue("/f" + std::to_string(i));
  ASSERT_OK_AND_ASSIGN(Catalog other, Catalog::Open(dir_ / "catalog.db"));
  std::set<int64_t> ids;
  for (int i = 0; i < 10; ++i) {
    Catalog& worker = i % 2 == 0 ? *catalog_ : other;
    ASSERT_OK_AND_ASSIGN(std::optional<Job> job, worker.ClaimNextJob());
    ASSERT_TRUE(job.has_value()) << "claim " << i;
    ids.insert(job->id);
  }
  EXPECT_EQ(ids.size(), 10u);
  ASSERT_OK_AND_ASSIGN(std::optional<Job> none, other.ClaimNextJob());
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(none, catalog_->ClaimNextJob());
  EXPECT_FALSE(none.has_value());
}

TEST_F(JobTest, ThreadsClaimingAtOnceNeverGetTheSameJob) {
  constexpr int kJobs = 60;
  constexpr int kWorkers = 4;
  for (int i = 0; i < kJobs; ++i) Enqueue("/f" + std::to_string(i));
  std::vector<std::vector<int64_t>> claimed(kWorkers);
  std::vector<std::string> errors(kWorkers);
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      Result<Catalog> catalog = Catalog::Open(dir_ / "catalog.db");
      if (!catalog.ok()) {
        errors[w] = catalog.status().ToString();
        return;
      }
      for (;;) {
        Result<std::optional<Job>> job = catalog->ClaimNextJob();
        if (!job.ok()) {
          errors[w] = job.status().ToString();
          return;
        }
        if (!job->has_value()) return;
        claimed[w].push_back((*job)->id);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  std::set<int64_t> ids;
  size_t total = 0;
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(errors[w], "") << "worker " << w;
    ids.insert(claimed[w].begin(), claimed[w].end());
    total += claimed[w].size();
  }
  EXPECT_EQ(total, static_cast<size_t>(kJobs));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kJobs));
  ASSERT_OK_AND_ASSIGN(std::vector<Job> extracting, catalog_->ListJobs(JobState::kExtracting));
  EXPECT_EQ(extracting.size(), static_cast<size_t>(kJobs));
  EXPECT_TRUE(std::all_of(extracting.begin(), extracting.end(),
                          [](const Job& job) { return job.attempts == 1; }));
}

TEST_F(JobTest, ClaimWhileAnotherWriterHoldsTheLockIsUnavailableAndClaimsNothing) {
  Enqueue("/a");
  OpenOptions impatient;
  impatient.busy_timeout_ms = 50;
  ASSERT_OK_AND_ASSIGN(Catalog worker, Catalog::Open(dir_ / "catalog.db", impatient));
  {
    ASSERT_OK_AND_ASSIGN(Database holder, Database::Open(dir_ / "catalog.db"));
    ASSERT_OK_AND_ASSIGN(Transaction tx, Transaction::Begin(holder));
    EXPECT_EQ(CODE_OF(worker.ClaimNextJob()), StatusCode::kUnavailable);
  }
  ASSERT_OK_AND_ASSIGN(std::vector<Job> queued, catalog_->ListJobs(JobState::kQueued));
  EXPECT_EQ(queued.size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::optional<Job> job, worker.ClaimNextJob());
  EXPECT_TRUE(job.has_value());
}

TEST_F(JobTest, FindUnfinishedJobSeesQueuedAndInFlightJobsOnly) {
  const JobState unfinished[] = {JobState::kQueued, JobState::kExtracting, JobState::kChunking,
                                 JobState::kEmbedding};
  for (JobState state : unfinished) {
    std::string path = "/u/" + std::string(JobStateName(state));
    int64_t id = Enqueue(path);
    ASSERT_OK(catalog_->SetJobState(id, state));
    ASSERT_OK_AND_ASSIGN(std::optional<Job> found, catalog_->FindUnfinishedJob(path));
    ASSERT_TRUE(found.has_value()) << path;
    EXPECT_EQ(found->id, id);
    EXPECT_EQ(found->state, state);
  }
  for (JobState state : {JobState::kDone, JobState::kFailed}) {
    std::string path = "/f/" + std::string(JobStateName(state));
    ASSERT_OK(catalog_->SetJobState(Enqueue(path), state));
    ASSERT_OK_AND_ASSIGN(std::optional<Job> found, catalog_->FindUnfinishedJob(path));
    EXPECT_FALSE(found.has_value()) << path;
  }
  ASSERT_OK_AND_ASSIGN(std::optional<Job> found, catalog_->FindUnfinishedJob("/u"));
  EXPECT_FALSE(found.has_value());
}

}  // namespace
}  // namespace cloister::storage
