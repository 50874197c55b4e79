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
// Thread-safe: each call has its own child.
#pragma once

#include <cstdint>
#include <filesystem>
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
};

Status ExtractIsolated(const std::filesystem::path& path, const ExtractOptions& options,
                       const SandboxOptions& sandbox, const Emit& emit);

// The child side: reads the request on stdin, applies the limits it carries, extracts, writes
// documents and a final status to stdout. Returns the process exit code.
int RunExtractWorker();

}  // namespace cloister::ingest
