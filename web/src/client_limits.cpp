#include "client_limits.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

namespace cloister::web {
namespace {

using TimePoint = std::chrono::steady_clock::time_point;

// Idle entries go at least this often, so the table follows the clients of the last minute
// rather than those since the start.
constexpr std::chrono::seconds kSweepEvery{60};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

// ---- tickets ------------------------------------------------------------------------------------

ClientLimits::Ticket& ClientLimits::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = std::exchange(other.owner_, nullptr);
    client_ = std::move(other.client_);
    answer_ = other.answer_;
  }
  return *this;
}

void ClientLimits::Ticket::Release() {
  if (owner_) owner_->End(client_, answer_);
  owner_ = nullptr;
}

// ---- the table ----------------------------------------------------------------------------------

ClientLimits::ClientLimits(ClientLimitOptions options, Clock clock)
    : options_(options), clock_(std::move(clock)), swept_(Now()) {}

TimePoint ClientLimits::Now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

double ClientLimits::Burst() const { return std::max(1.0, options_.burst); }

void ClientLimits::Refill(Entry& e, TimePoint now) const {
  if (now > e.refilled) {
    double earned = Seconds(now - e.refilled) * options_.requests_per_second;
    e.tokens = std::min(Burst(), e.tokens + earned);
  }
  e.refilled = std::max(e.refilled, now);
}

// An idle entry can go: a new one for the same client would behave exactly as it does.
bool ClientLimits::Idle(const Entry& e, TimePoint now) const {
  if (e.requests > 0) return false;
  if (options_.requests_per_second <= 0) return true;
  double elapsed = now > e.refilled ? Seconds(now - e.refilled) : 0;
  return e.tokens + elapsed * options_.requests_per_second >= Burst();
}

ClientLimits::Entry& ClientLimits::Find(const std::string& client, TimePoint now) {
  if (now - swept_ >= kSweepEvery) {
    std::erase_if(entries_, [&](const auto& kv) { return Idle(kv.second, now); });
    swept_ = now;
  }
  auto it = entries_.find(client);
  if (it != entries_.end()) return it->second;
  if (entries_.size() >= options_.max_clients) MakeRoom(now);
  Entry& e = entries_[client];
  e.tokens = Burst();
  e.refilled = now;
  return e;
}

// The table is full: the idle go, then (a flood of new clients within a refill time) the longest
// unseen of those with nothing in progress, down to 7/8 of the cap so that the next sweep is
// an eighth of the cap away (the cost stays constant per request). Entries with requests in
// progress stay (their tickets end them); there are at most as many as worker threads.
void ClientLimits::MakeRoom(TimePoint now) {
  std::erase_if(entries_, [&](const auto& kv) { return Idle(kv.second, now); });
  size_t target = options_.max_clients - options_.max_clients / 8;
  if (entries_.size() <= target) return;
  std::vector<std::pair<TimePoint, const std::string*>> quiet;
  for (const auto& [client, e] : entries_) {
    if (e.requests == 0) quiet.emplace_back(e.seen, &client);
  }
  size_t drop = std::min(quiet.size(), entries_.size() - target);
  std::nth_element(quiet.begin(), quiet.begin() + static_cast<std::ptrdiff_t>(drop), quiet.end());
  std::vector<std::string> gone;
  for (size_t i = 0; i < drop; ++i) gone.push_back(*quiet[i].second);
  for (const auto& client : gone) entries_.erase(client);
}

ClientLimits::Admission ClientLimits::Admit(const std::string& client, bool answer) {
  std::lock_guard lock(mutex_);
  TimePoint now = Now();
  Entry& e = Find(client, now);
  e.seen = now;
  Admission a;
  if (options_.requests_per_second > 0) {
    Refill(e, now);
    if (e.tokens < 1) {
      a.refused = LimitReason::kRate;
      a.retry_after_seconds = std::max(
          1, static_cast<int>(std::ceil((1 - e.tokens) / options_.requests_per_second)));
      char rate[32];
      std::snprintf(rate, sizeof rate, "%g", options_.requests_per_second);
      a.message = std::string("too many requests: this client may send ") + rate +
                  " a second (and bursts of " + std::to_string(static_cast<int>(Burst())) + ")";
      return a;
    }
    e.tokens -= 1;
  }
  if (options_.concurrent_requests > 0 && e.requests >= options_.concurrent_requests) {
    a.refused = LimitReason::kConcurrency;
    a.retry_after_seconds = 1;
    a.message = "too many requests in progress: this client may have " +
                std::to_string(options_.concurrent_requests) + " at once";
    return a;
  }
  if (answer && options_.concurrent_answers > 0 && e.answers >= options_.concurrent_answers) {
    a.refused = LimitReason::kConcurrency;
    a.retry_after_seconds = 2;  // as for a busy server: answers take seconds
    a.message = "too many answers in progress: this client may have " +
                std::to_string(options_.concurrent_answers) + " at once";
    return a;
  }
  ++e.requests;
  if (answer) ++e.answers;
  a.ticket.owner_ = this;
  a.ticket.client_ = client;
  a.ticket.answer_ = answer;
  return a;
}

void ClientLimits::End(const std::string& client, bool answer) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(client);
  if (it == entries_.end()) return;  // cannot happen: entries with requests in progress stay
  it->second.requests = std::max(0, it->second.requests - 1);
  if (answer) it->second.answers = std::max(0, it->second.answers - 1);
}

size_t ClientLimits::clients() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

// ---- client keys --------------------------------------------------------------------------------

std::string ClientKeyForUser(int64_t user_id) { return "user:" + std::to_string(user_id); }

std::string ClientKeyForAddress(const Poco::Net::IPAddress& address) {
  const auto* bytes = static_cast<const unsigned char*>(address.addr());
  if (address.family() == Poco::Net::IPAddress::IPv4) return "ip:" + address.toString();
  if (address.isIPv4Mapped() || address.length() < 16) {
    size_t at = address.length() >= 16 ? 12 : 0;
    return "ip:" + std::to_string(bytes[at]) + "." + std::to_string(bytes[at + 1]) + "." +
           std::to_string(bytes[at + 2]) + "." + std::to_string(bytes[at + 3]);
  }
  char prefix[48];
  std::snprintf(prefix, sizeof prefix, "ip:%x:%x:%x:%x::/64", bytes[0] << 8 | bytes[1],
                bytes[2] << 8 | bytes[3], bytes[4] << 8 | bytes[5], bytes[6] << 8 | bytes[7]);
  return prefix;
}

}  // namespace cloister::web
