// Watches a folder tree (the inbox, or a collection's folder) with inotify and keeps the catalog
// in step with it. Each file is queued into the collection CollectionForPath gives it: the
// collection whose folder holds it, else the default one.
// - a new or changed file is queued once it has stopped changing for `settle_ms` (size and
//   modification time stable), so a partial copy is never ingested;
// - a deleted file, or one moved out of the inbox, has its documents removed;
// - a file or folder renamed inside the inbox keeps its documents (paths updated);
// - at start, and after an inotify queue overflow, a scan catches up: content hashes decide
//   what changed while nobody watched.
// Hidden files and the usual partial-download names (*.part, *.tmp, *.crdownload, *~) are
// ignored. Private to app.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {

class InboxWatcher {
 public:
  // `on_enqueue` wakes the workers; `forget` receives the chunk ids of documents removed
  // because their file went (for the vector index).
  InboxWatcher(std::filesystem::path inbox, std::filesystem::path catalog_path, int settle_ms,
               std::function<void()> on_enqueue,
               std::function<void(const std::vector<int64_t>&)> forget);
  ~InboxWatcher();

  // Creates the inbox if missing, scans it, and starts watching. kFailedPrecondition when the
  // inbox cannot be created or watched (inotify limits: the message says which sysctl).
  Status Start();
  void Stop();
  // Files queued since Start (for status and tests).
  int64_t queued() const { return queued_; }

 private:
  struct Pending;
  void Loop();
  void Scan(const std::filesystem::path& dir);
  void HandleEvents(const char* buffer, ssize_t length);
  void EnqueueSettled();
  void FlushMoves(bool all);
  void AddWatches(const std::filesystem::path& dir);
  bool Ignored(const std::filesystem::path& path) const;
  void Enqueue(const std::filesystem::path& path);
  void Removed(const std::filesystem::path& path, bool dir);

  std::filesystem::path inbox_;
  std::filesystem::path catalog_path_;
  int settle_ms_;
  std::function<void()> on_enqueue_;
  std::function<void(const std::vector<int64_t>&)> forget_;
  std::unique_ptr<storage::Catalog> catalog_;
  int fd_ = -1;
  std::map<int, std::filesystem::path> watches_;  // watch descriptor -> folder
  std::map<std::filesystem::path, std::unique_ptr<Pending>> pending_;
  struct Move {
    std::filesystem::path from;
    bool dir = false;
    int64_t at_ms = 0;
  };
  std::map<uint32_t, Move> moves_;  // IN_MOVED_FROM waiting for its IN_MOVED_TO
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> queued_{0};
  std::thread thread_;
};

}  // namespace cloister::app
