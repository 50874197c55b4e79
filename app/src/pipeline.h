// Ingestion workers: each claims queued jobs from the catalog (its own connection) and runs
// them. Jobs may come from this process (CLI ingest, uploads, the watcher) or another one: the
// catalog's atomic claim keeps any job from running twice. Private to app.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "job_runner.h"

namespace cloister::app {

struct PipelineCounters {
  int64_t files_done = 0;
  int64_t files_failed = 0;
  int64_t documents = 0;
  int64_t pages = 0;
  int64_t chunks = 0;
  int busy_workers = 0;
};

class Pipeline {
 public:
  Pipeline(RunnerContext ctx, std::filesystem::path catalog_path, int workers);
  ~Pipeline();

  // Starts the workers. kFailedPrecondition/kDataLoss if a worker cannot open the catalog.
  Status Start();
  // Lets the current jobs finish, then stops the workers.
  void Stop();
  // Wakes idle workers: new jobs are queued.
  void Notify();

  // Blocks until every job in `ids` has an outcome (or Stop), calling `tick` about 5 times a
  // second. Returns the outcomes in `ids` order.
  std::vector<JobOutcome> WaitFor(const std::vector<int64_t>& ids, const std::function<void()>& tick);
  PipelineCounters counters() const;

 private:
  void WorkerLoop(storage::Catalog catalog);
  void Record(JobOutcome outcome);

  RunnerContext ctx_;
  std::filesystem::path catalog_path_;
  int workers_;
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::condition_variable wake_;   // workers: jobs may be waiting
  std::condition_variable done_;   // waiters: an outcome arrived
  bool stopping_ = false;
  std::map<int64_t, JobOutcome> outcomes_;
  PipelineCounters counters_;
};

}  // namespace cloister::app
