// Runs one ingestion job: hash, de-duplicate, keep the original, extract in the sandbox, chunk,
// store, finalise. Private to app.
//
// Crash safety: every document a job stores starts 'queued' (invisible to search) and tagged
// with the job; only FinalizeJobDocuments, in one transaction, removes the previous version of
// the file and makes the new documents visible. A job interrupted anywhere (kill -9 included)
// leaves at most invisible rows that the next attempt discards first.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/core/status.h"
#include "cloister/ingest/chunk.h"
#include "cloister/ingest/extract.h"
#include "cloister/ingest/sandbox.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {

// Content hashes being ingested right now in this process. Two workers given identical files
// at once would each find no stored copy and store two documents; the second waits here and
// then finds the first's.
class HashLocks {
 public:
  void Lock(const std::string& hash);
  void Unlock(const std::string& hash);

 private:
  std::mutex mu_;
  std::condition_variable released_;
  std::set<std::string> held_;
};

struct RunnerContext {
  Config config;
  std::shared_ptr<HashLocks> hash_locks = std::make_shared<HashLocks>();
  ingest::ExtractOptions extract;
  ingest::SandboxOptions sandbox;
  ingest::ChunkOptions chunking;
  // Set when an embedding model is in use: embeds the job's stored chunks (state embedding).
  std::function<Status(storage::Catalog&, int64_t job_id)> embed;
  // Chunks leaving the catalog: the vector index must drop them.
  std::function<void(const std::vector<int64_t>&)> forget;
};

RunnerContext MakeRunnerContext(const Config& config);

struct JobOutcome {
  int64_t job_id = 0;
  std::string path;
  bool ok = false;
  std::string error;        // why the file failed
  std::string note;         // "unchanged", "duplicate of ...", "renamed from ..."
  int64_t documents = 0;    // documents stored (messages, attachments included)
  int64_t chunks = 0;
  int64_t pages = 0;
  std::vector<int64_t> document_ids;  // top-level documents of the file
};

// Runs `job` (already claimed: state extracting) to done or failed, extracting with `extractor`
// (the calling thread's sandboxed worker), recording the outcome in the catalog. Returns the
// outcome; a non-ok Status only for catalog failures (the job is then left unfinished and will
// be retried).
Result<JobOutcome> RunJob(storage::Catalog& catalog, const storage::Job& job, const RunnerContext& ctx,
                          ingest::ExtractionWorker& extractor);

}  // namespace cloister::app
