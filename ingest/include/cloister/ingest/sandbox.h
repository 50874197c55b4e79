// Extraction in a child process with time and memory limits, so a parser that crashes, hangs or
// eats memory on a hostile file fails that file only (DESIGN.md: isolation).
//
//   SandboxOptions sandbox;                 // re-executes /proc/self/exe __extract
//   Status st = ingest::ExtractIsolated("inbox/x.pdf", extract_options, sandbox,
//                                       [&](ParsedDocument d) { return Store(std::move(d)); });
//
// The program at `worker` must call RunExtractWorker() when given `worker_args` (the cloister
// binary does for `cloister __extract`). Documents stream back over a pipe as the child extracts
// them, so a mailbox of any size is never held whole by either side. Errors besides those of
// ExtractFile (extract.h):
//   kFailedPrecondition  "timed out after N s" / "ran out of memory (limit N MiB)"
//   kInternal            the parser crashed (names the signal), or the worker could not start
//
// ExtractionWorker keeps one child for many files: starting the (large) cloister binary costs
// more than extracting a typical PDF. The child is replaced after a crash, a timeout, running out
// of memory, or every `recycle_after` files; a file never runs in a child that failed before.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/ingest/extract.h"

namespace cloister::ingest {

struct SandboxOptions {
  std::filesystem::path worker = "/proc/self/exe";
  std::vector<std::string> worker_args = {"__extract"};
  int timeout_seconds = 300;              // wall-clock limit per file (ingest.timeout_seconds)
  uint64_t memory_bytes = 2048ull << 20;  // address-space limit of the child (ingest.memory_mb)
  int recycle_after = 200;                // files per child before a fresh one
};

// One child process extracting file after file. Not thread-safe: one per pipeline thread.
class ExtractionWorker {
 public:
  explicit ExtractionWorker(SandboxOptions sandbox);
  ~ExtractionWorker();
  ExtractionWorker(const ExtractionWorker&) = delete;
  ExtractionWorker& operator=(const ExtractionWorker&) = delete;

  Status Extract(const std::filesystem::path& path, const ExtractOptions& options, const Emit& emit);
  // Children started so far (tests: a crash costs one, a good file none).
  int children_started() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One file in a child of its own (ExtractionWorker for a single file).
Status ExtractIsolated(const std::filesystem::path& path, const ExtractOptions& options,
                       const SandboxOptions& sandbox, const Emit& emit);

// The child side: reads requests on stdin until it closes, applies the limits the first one
// carries, extracts each file, writes its documents and a final status to stdout. Returns the
// process exit code.
int RunExtractWorker();

}  // namespace cloister::ingest
