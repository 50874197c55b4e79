#include "pipeline.h"

#include <chrono>

#include "cloister/core/log.h"

namespace cloister::app {

Pipeline::Pipeline(RunnerContext ctx, std::filesystem::path catalog_path, int workers)
    : ctx_(std::move(ctx)), catalog_path_(std::move(catalog_path)), workers_(std::max(1, workers)) {}

Pipeline::~Pipeline() { Stop(); }

Status Pipeline::Start() {
  std::vector<storage::Catalog> catalogs;
  for (int i = 0; i < workers_; ++i) {
    CLOISTER_ASSIGN_OR_RETURN(storage::Catalog catalog, storage::Catalog::Open(catalog_path_));
    catalogs.push_back(std::move(catalog));
  }
  for (auto& catalog : catalogs) {
    threads_.emplace_back([this, c = std::move(catalog)]() mutable { WorkerLoop(std::move(c)); });
  }
  return Status::Ok();
}

void Pipeline::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  done_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Pipeline::Notify() { wake_.notify_all(); }

void Pipeline::WorkerLoop(storage::Catalog catalog) {
  ingest::ExtractionWorker extractor(ctx_.sandbox);
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    auto job = catalog.ClaimNextJob();
    if (!job.ok() || !job->has_value()) {
      if (!job.ok()) log::Warn("ingest", "cannot claim a job", {{"error", job.status().message()}});
      std::unique_lock lock(mu_);
      // Polling too: another process may queue jobs in the same catalog.
      wake_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
      continue;
    }
    {
      std::lock_guard lock(mu_);
      ++counters_.busy_workers;
    }
    const storage::Job& claimed = **job;
    auto outcome = RunJob(catalog, claimed, ctx_, extractor);
    if (!outcome.ok()) {
      // The catalog itself failed (busy past the timeout, disk full): the job goes back to the
      // queue unless it keeps failing.
      log::Error("ingest", "job interrupted", {{"path", claimed.path}, {"error", outcome.status().message()}});
      bool give_up = claimed.attempts >= 3;
      (void)catalog.SetJobState(claimed.id, give_up ? storage::JobState::kFailed : storage::JobState::kQueued,
                                outcome.status().message());
      if (give_up) {
        JobOutcome failed;
        failed.job_id = claimed.id;
        failed.path = claimed.path;
        failed.error = "error: " + outcome.status().message();
        Record(std::move(failed));
      }
    } else {
      Record(std::move(outcome).value());
    }
    std::lock_guard lock(mu_);
    --counters_.busy_workers;
  }
}

void Pipeline::Record(JobOutcome outcome) {
  {
    std::lock_guard lock(mu_);
    if (outcome.ok) {
      ++counters_.files_done;
    } else {
      ++counters_.files_failed;
    }
    counters_.documents += outcome.documents;
    counters_.pages += outcome.pages;
    counters_.chunks += outcome.chunks;
    outcomes_[outcome.job_id] = std::move(outcome);
  }
  done_.notify_all();
}

std::vector<JobOutcome> Pipeline::WaitFor(const std::vector<int64_t>& ids,
                                          const std::function<void()>& tick) {
  std::unique_lock lock(mu_);
  auto all_done = [&] {
    for (int64_t id : ids) {
      if (!outcomes_.count(id)) return false;
    }
    return true;
  };
  while (!all_done() && !stopping_) {
    done_.wait_for(lock, std::chrono::milliseconds(200));
    if (tick) {
      lock.unlock();
      tick();
      lock.lock();
    }
  }
  std::vector<JobOutcome> out;
  for (int64_t id : ids) {
    auto it = outcomes_.find(id);
    if (it != outcomes_.end()) out.push_back(it->second);
  }
  return out;
}

PipelineCounters Pipeline::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

}  // namespace cloister::app
