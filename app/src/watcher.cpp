#include "watcher.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "cloister/core/files.h"
#include "cloister/core/log.h"
#include "cloister/ingest/hash.h"
#include "collections.h"

namespace cloister::app {
namespace fs = std::filesystem;
namespace {

constexpr uint32_t kFileEvents = IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_ATTRIB | IN_DELETE |
                                 IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR;
constexpr int64_t kMoveWaitMs = 500;  // an IN_MOVED_FROM without IN_MOVED_TO by then moved out

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct FileStamp {
  uintmax_t size = 0;
  fs::file_time_type mtime{};
  bool operator==(const FileStamp&) const = default;
};

std::optional<FileStamp> Stamp(const fs::path& p) {
  std::error_code ec;
  FileStamp s;
  s.size = fs::file_size(p, ec);
  if (ec) return std::nullopt;
  s.mtime = fs::last_write_time(p, ec);
  if (ec) return std::nullopt;
  return s;
}

}  // namespace

struct InboxWatcher::Pending {
  int64_t last_event_ms = 0;
  std::optional<FileStamp> stamp;
};

InboxWatcher::InboxWatcher(fs::path inbox, fs::path catalog_path, int settle_ms,
                           std::function<void()> on_enqueue,
                           std::function<void(const std::vector<int64_t>&)> forget)
    : inbox_(std::move(inbox)), catalog_path_(std::move(catalog_path)), settle_ms_(settle_ms),
      on_enqueue_(std::move(on_enqueue)), forget_(std::move(forget)) {}

InboxWatcher::~InboxWatcher() { Stop(); }

Status InboxWatcher::Start() {
  CLOISTER_RETURN_IF_ERROR(EnsureDirectory(inbox_));
  inbox_ = fs::canonical(inbox_);
  CLOISTER_ASSIGN_OR_RETURN(storage::Catalog catalog, storage::Catalog::Open(catalog_path_));
  catalog_ = std::make_unique<storage::Catalog>(std::move(catalog));
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    return FailedPrecondition(std::string("cannot watch the inbox: ") + std::strerror(errno) +
                              " (raise fs.inotify.max_user_instances)");
  }
  AddWatches(inbox_);
  Scan(inbox_);
  thread_ = std::thread([this] { Loop(); });
  log::Info("watch", "watching a folder", {{"folder", inbox_.string()}});
  return Status::Ok();
}

void InboxWatcher::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool InboxWatcher::Ignored(const fs::path& path) const {
  std::string name = path.filename().string();
  if (name.empty() || name[0] == '.' || name.back() == '~') return true;
  for (const char* ext : {".part", ".tmp", ".crdownload", ".partial", ".swp"}) {
    if (path.extension() == ext) return true;
  }
  return false;
}

void InboxWatcher::AddWatches(const fs::path& dir) {
  int wd = inotify_add_watch(fd_, dir.c_str(), kFileEvents);
  if (wd < 0) {
    log::Warn("watch", "cannot watch a folder", {{"path", dir.string()}, {"error", std::strerror(errno)},
                                                 {"hint", "raise fs.inotify.max_user_watches"}});
    return;
  }
  watches_[wd] = dir;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec) && !Ignored(it->path())) AddWatches(it->path());
  }
}

void InboxWatcher::Enqueue(const fs::path& path) {
  auto unfinished = catalog_->FindUnfinishedJob(path.string());
  if (unfinished.ok() && unfinished->has_value()) return;
  // Read at every file: a collection added meanwhile files its folder's new files at once.
  auto collection = CollectionForPath(*catalog_, path);
  if (!collection.ok()) {
    log::Warn("watch", "cannot queue a file", {{"path", path.string()}, {"error", collection.status().message()}});
    return;
  }
  auto id = catalog_->EnqueueJob(path.string(), *collection);
  if (!id.ok()) {
    log::Warn("watch", "cannot queue a file", {{"path", path.string()}, {"error", id.status().message()}});
    return;
  }
  ++queued_;
  on_enqueue_();
}

// Catch-up: queue files whose content is not what the catalog holds for their path, and drop
// documents whose file is gone.
void InboxWatcher::Scan(const fs::path& dir) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (Ignored(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    auto docs = catalog_->DocumentsAtPath(it->path().string());
    auto hash = ingest::HashFile(it->path());
    auto collection = CollectionForPath(*catalog_, it->path());
    bool known = false;
    if (docs.ok() && hash.ok() && collection.ok()) {
      // In another collection (its folder became a collection's since): ingested again there.
      for (const auto& d : *docs) known |= d.content_hash == *hash && d.collection_id == *collection;
    }
    if (!known) Enqueue(it->path());
  }
  for (int64_t offset = 0;; offset += 500) {
    auto page = catalog_->ListDocuments(offset, 500);
    if (!page.ok() || page->empty()) break;
    for (const auto& d : *page) {
      fs::path p = d.path;
      bool inside = p.string().rfind(dir.string() + "/", 0) == 0;
      if (d.parent_id || !inside || fs::exists(p, ec)) continue;
      auto chunks = catalog_->ChunkIdsAtPath(d.path);
      if (chunks.ok() && forget_) forget_(*chunks);
      if (catalog_->DeleteDocumentsAtPath(d.path).ok()) --offset;  // the page shifted
    }
  }
}

void InboxWatcher::Removed(const fs::path& path, bool dir) {
  pending_.erase(path);
  auto chunks = dir ? catalog_->ChunkIdsUnder(path.string()) : catalog_->ChunkIdsAtPath(path.string());
  if (chunks.ok() && forget_) forget_(*chunks);
  auto n = dir ? catalog_->DeleteDocumentsUnder(path.string()) : catalog_->DeleteDocumentsAtPath(path.string());
  if (n.ok() && *n > 0) log::Info("watch", "removed from search", {{"path", path.string()}});
}

void InboxWatcher::FlushMoves(bool all) {
  int64_t now = NowMs();
  for (auto it = moves_.begin(); it != moves_.end();) {
    if (all || now - it->second.at_ms >= kMoveWaitMs) {
      Removed(it->second.from, it->second.dir);  // moved out of the inbox
      it = moves_.erase(it);
    } else {
      ++it;
    }
  }
}

void InboxWatcher::HandleEvents(const char* buffer, ssize_t length) {
  for (const char* p = buffer; p < buffer + length;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(p);
    p += sizeof(inotify_event) + ev->len;
    if (ev->mask & IN_Q_OVERFLOW) {
      Scan(inbox_);
      continue;
    }
    auto w = watches_.find(ev->wd);
    if (w == watches_.end()) continue;
    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF)) {
      watches_.erase(w);
      continue;
    }
    fs::path path = w->second / (ev->len ? ev->name : "");
    bool dir = ev->mask & IN_ISDIR;
    if (Ignored(path)) continue;
    if (ev->mask & IN_MOVED_FROM) {
      moves_[ev->cookie] = {path, dir, NowMs()};
      pending_.erase(path);
    } else if (ev->mask & IN_MOVED_TO) {
      auto from = moves_.find(ev->cookie);
      if (from != moves_.end()) {
        if (dir) {
          (void)catalog_->RenameDocumentsUnder(from->second.from.string(), path.string());
          for (auto& [wd, folder] : watches_) {
            std::string f = folder.string(), old = from->second.from.string();
            if (f == old || f.rfind(old + "/", 0) == 0) folder = path.string() + f.substr(old.size());
          }
        } else {
          (void)catalog_->RenameDocuments(from->second.from.string(), path.string());
        }
        log::Info("watch", "renamed", {{"from", from->second.from.string()}, {"to", path.string()}});
        moves_.erase(from);
      } else if (dir) {
        AddWatches(path);
        Scan(path);
      } else {
        pending_[path] = std::make_unique<Pending>(Pending{NowMs(), std::nullopt});
      }
    } else if (ev->mask & IN_DELETE) {
      Removed(path, dir);
    } else if (dir && (ev->mask & IN_CREATE)) {
      AddWatches(path);
      Scan(path);
    } else if (!dir) {
      auto& slot = pending_[path];
      if (!slot) slot = std::make_unique<Pending>();
      slot->last_event_ms = NowMs();
    }
  }
}

void InboxWatcher::EnqueueSettled() {
  int64_t now = NowMs();
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = *it->second;
    if (now - p.last_event_ms < settle_ms_) {
      ++it;
      continue;
    }
    auto stamp = Stamp(it->first);
    if (!stamp) {  // gone again before it settled
      it = pending_.erase(it);
      continue;
    }
    if (p.stamp != stamp) {  // still changing without events (e.g. a network copy): wait more
      p.stamp = stamp;
      p.last_event_ms = now;
      ++it;
      continue;
    }
    Enqueue(it->first);
    it = pending_.erase(it);
  }
}

void InboxWatcher::Loop() {
  alignas(inotify_event) char buffer[64 * 1024];
  while (!stop_) {
    pollfd pfd{fd_, POLLIN, 0};
    int n = ::poll(&pfd, 1, 200);
    if (n > 0 && (pfd.revents & POLLIN)) {
      ssize_t len = ::read(fd_, buffer, sizeof buffer);
      if (len > 0) HandleEvents(buffer, len);
    }
    FlushMoves(/*all=*/false);
    EnqueueSettled();
  }
  FlushMoves(/*all=*/true);
}

}  // namespace cloister::app
