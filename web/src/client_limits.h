// Private: per-client limits on request rate and on requests in progress (docs/API.md,
// "Malformed requests and limits"). A client is a key: the authenticated user ("user:ID"; an API
// key counts as its user), else the peer's address (IPv4 /32, IPv6 /64: one host's addresses
// are one client). The counters live in this process's memory: they start afresh at a restart
// and are not shared between processes.
//
//   ClientLimits limits({.requests_per_second = 50, .burst = 200});
//   ClientLimits::Admission a = limits.Admit(ClientKeyForUser(7), /*answer=*/true);
//   if (a.refused != LimitReason::kNone) ... 429 with Retry-After: a.retry_after_seconds ...
//   ... serve; a.ticket, when it goes, ends the request's in-progress counts ...
//
// Thread safety: every method may be called from any thread; a Ticket from the one that owns it.
#pragma once

#include <Poco/Net/IPAddress.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace cloister::web {

struct ClientLimitOptions {
  double requests_per_second = 50;  // sustained rate per client (a token bucket); 0: no limit
  double burst = 200;               // the bucket's size: requests a rested client may send at once
                                    // (values under 1 count as 1)
  int concurrent_answers = 4;       // answers in progress per client; 0: no limit
  int concurrent_requests = 32;     // requests in progress per client, answers too; 0: no limit
  // Clients remembered. A client is forgotten once idle (nothing in progress, bucket full again),
  // which changes nothing it could observe. At the cap, the idle go, then the longest unseen with
  // nothing in progress: a flood of new addresses costs memory up to the cap and no more.
  size_t max_clients = 65536;
};

enum class LimitReason { kNone, kRate, kConcurrency };

class ClientLimits {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // Ends its request's in-progress counts when destroyed. Empty when default-constructed.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { Release(); }

   private:
    friend class ClientLimits;
    void Release();
    ClientLimits* owner_ = nullptr;
    std::string client_;
    bool answer_ = false;
  };

  struct Admission {
    LimitReason refused = LimitReason::kNone;
    int retry_after_seconds = 0;  // when refused: at least 1
    std::string message;          // when refused: which limit, for the 429's JSON
    Ticket ticket;                // when admitted
  };

  // `clock` is steady_clock::now unless a test drives time itself.
  explicit ClientLimits(ClientLimitOptions options, Clock clock = {});

  // One request of `client`: it takes a token from the client's bucket (kRate when there is
  // none: Retry-After is when one is back), then a place among its requests in progress and,
  // for an answer, among its answers in progress (kConcurrency when full). A request refused for
  // concurrency has spent its token: a client hammering at its limit is slowed down too.
  Admission Admit(const std::string& client, bool answer);

  size_t clients() const;  // entries in the table now
  const ClientLimitOptions& options() const { return options_; }

 private:
  struct Entry {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;  // when `tokens` was last brought up to date
    std::chrono::steady_clock::time_point seen;
    int requests = 0;  // in progress
    int answers = 0;   // in progress
  };

  std::chrono::steady_clock::time_point Now() const;
  double Burst() const;
  void Refill(Entry& e, std::chrono::steady_clock::time_point now) const;
  bool Idle(const Entry& e, std::chrono::steady_clock::time_point now) const;
  Entry& Find(const std::string& client, std::chrono::steady_clock::time_point now);
  void MakeRoom(std::chrono::steady_clock::time_point now);
  void End(const std::string& client, bool answer);

  const ClientLimitOptions options_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::chrono::steady_clock::time_point swept_;  // the last sweep of idle entries
};

// "user:ID": an authenticated client, whichever of its sessions or API keys it uses.
std::string ClientKeyForUser(int64_t user_id);
// "ip:ADDRESS" for IPv4 (an IPv4-mapped IPv6 address counts as its IPv4 address), and
// "ip:PREFIX/64" for IPv6, whose hosts each have a /64 to pick addresses from.
std::string ClientKeyForAddress(const Poco::Net::IPAddress& address);

}  // namespace cloister::web
