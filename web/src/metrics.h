// The service's own measurements, rendered for Prometheus (text exposition format 0.0.4) at
// GET /metrics: request counts and latency histograms per route, search and answer latencies,
// tokens generated, answers in flight against the slots, refusals by the per-client limits, and
// (from the knowledge base's status, read at each scrape) documents, chunks, ingestion jobs per
// state, index size, and the process's resident memory. Private to web/. Thread safety: every
// method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/app/knowledge_base.h"

namespace cloister::web {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Appends NAME_bucket{LABELS,le="..."}, NAME_sum and NAME_count lines.
  void Render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; one more for +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  explicit Metrics(uint32_t answer_slots);

  // One finished HTTP request: `route` is the endpoint's path template ("/api/v1/documents/{id}"),
  // or "other" for paths no endpoint has (so a scan of random URLs cannot grow the label set).
  void ObserveRequest(std::string_view route, std::string_view method, int status, double seconds);
  void ObserveSearch(std::string_view mode, double seconds);
  // One answer: its mode ("generated", "extractive"), its total time, its first token's
  // (negative: none), and its token counts.
  void ObserveAnswer(std::string_view mode, double seconds, double first_token_seconds,
                     int64_t prompt_tokens, int64_t completion_tokens);
  void AnswerStarted();
  void AnswerEnded();
  void AnswerRefused();  // busy: 503 with Retry-After
  // A request refused by the per-client limits (429): `reason` "rate" or "concurrency".
  void RateLimited(std::string_view reason);

  // The exposition, with `status` (the knowledge base's, taken by the caller) as gauges.
  std::string Render(const app::StatusReport& status) const;

 private:
  mutable std::mutex mutex_;
  uint32_t answer_slots_;
  const double started_;  // unix seconds
  std::map<std::string, uint64_t> requests_;         // "route\tmethod\tcode" -> count
  std::map<std::string, Histogram> request_seconds_;  // route -> histogram
  std::map<std::string, Histogram> search_seconds_;   // mode -> histogram
  std::map<std::string, Histogram> answer_seconds_;   // mode -> histogram
  Histogram first_token_seconds_;
  uint64_t prompt_tokens_ = 0;
  uint64_t completion_tokens_ = 0;
  double generating_seconds_ = 0;  // summed over generated answers
  int64_t answers_in_flight_ = 0;
  uint64_t answers_refused_ = 0;
  uint64_t rate_limited_ = 0;
  uint64_t concurrency_limited_ = 0;
};

}  // namespace cloister::web
