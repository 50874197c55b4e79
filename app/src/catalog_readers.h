// Connections to the catalog for reads that may run side by side (searches, answers, the
// library), so that one slow query or a busy writer never queues the others behind it: SQLite
// in WAL mode lets any number of readers work beside the one writer.
//
//   CatalogReaders readers(config.catalog_path(), 4);
//   CLOISTER_ASSIGN_OR_RETURN(CatalogReaders::Lease reader, readers.Acquire());
//   auto hits = reader->SearchLexical("refund", 10);
//
// Connections are opened on demand up to `max`; past that Acquire waits for one to come back.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {

class CatalogReaders {
 public:
  // A connection on loan; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)), catalog_(std::move(other.catalog_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_) pool_->Return(std::move(catalog_));
    }
    storage::Catalog& operator*() { return *catalog_; }
    storage::Catalog* operator->() { return catalog_.get(); }

   private:
    friend class CatalogReaders;
    Lease(CatalogReaders* pool, std::unique_ptr<storage::Catalog> catalog)
        : pool_(pool), catalog_(std::move(catalog)) {}
    CatalogReaders* pool_;
    std::unique_ptr<storage::Catalog> catalog_;
  };

  CatalogReaders(std::filesystem::path path, size_t max) : path_(std::move(path)), max_(max < 1 ? 1 : max) {}
  CatalogReaders(const CatalogReaders&) = delete;
  CatalogReaders& operator=(const CatalogReaders&) = delete;
  // Every lease must have come back.
  ~CatalogReaders() = default;

  Result<Lease> Acquire() {
    std::unique_lock lock(mu_);
    returned_.wait(lock, [&] { return !idle_.empty() || opened_ < max_; });
    if (!idle_.empty()) {
      std::unique_ptr<storage::Catalog> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
    ++opened_;  // counted before opening, so others do not open past max meanwhile
    lock.unlock();
    Result<storage::Catalog> opened = storage::Catalog::Open(path_, {});
    if (!opened.ok()) {
      lock.lock();
      --opened_;
      returned_.notify_one();
      return opened.status();
    }
    return Lease(this, std::make_unique<storage::Catalog>(std::move(opened).value()));
  }

 private:
  void Return(std::unique_ptr<storage::Catalog> c) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
    returned_.notify_one();
  }

  const std::filesystem::path path_;
  const size_t max_;
  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<storage::Catalog>> idle_;
  size_t opened_ = 0;
};

}  // namespace cloister::app
