#include "metrics.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

namespace cloister::web {
namespace {

const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                            2.5,   5,    10,    30,   60,  120, 300};

std::string Number(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.15g", x);
  return buf;
}

// A label value with the exposition format's escapes.
std::string Escaped(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void Sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + Number(value) + "\n";
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// VmRSS of this process in bytes (0 when /proc is not there).
double ResidentBytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::Render(std::string& out, const std::string& name, const std::string& labels) const {
  std::string prefix = labels.empty() ? "" : labels + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    Sample(out, name + "_bucket", prefix + "le=\"" + Number(bounds_[i]) + "\"", static_cast<double>(cumulative));
  }
  Sample(out, name + "_bucket", prefix + "le=\"+Inf\"", static_cast<double>(count_));
  Sample(out, name + "_sum", labels, sum_);
  Sample(out, name + "_count", labels, static_cast<double>(count_));
}

Metrics::Metrics(uint32_t answer_slots)
    : answer_slots_(answer_slots), started_(UnixNow()), first_token_seconds_(kLatencyBounds) {}

void Metrics::ObserveRequest(std::string_view route, std::string_view method, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[std::string(route) + "\t" + std::string(method) + "\t" + std::to_string(status)];
  request_seconds_.try_emplace(std::string(route), kLatencyBounds).first->second.Observe(seconds);
}

void Metrics::ObserveSearch(std::string_view mode, double seconds) {
  std::lock_guard lock(mutex_);
  search_seconds_.try_emplace(std::string(mode), kLatencyBounds).first->second.Observe(seconds);
}

void Metrics::ObserveAnswer(std::string_view mode, double seconds, double first_token_seconds,
                            int64_t prompt_tokens, int64_t completion_tokens) {
  std::lock_guard lock(mutex_);
  answer_seconds_.try_emplace(std::string(mode), kLatencyBounds).first->second.Observe(seconds);
  if (first_token_seconds >= 0) first_token_seconds_.Observe(first_token_seconds);
  prompt_tokens_ += static_cast<uint64_t>(std::max<int64_t>(prompt_tokens, 0));
  completion_tokens_ += static_cast<uint64_t>(std::max<int64_t>(completion_tokens, 0));
  if (mode == "generated" && completion_tokens > 0) {
    generating_seconds_ += std::max(0.0, seconds - std::max(first_token_seconds, 0.0));
  }
}

void Metrics::AnswerStarted() {
  std::lock_guard lock(mutex_);
  ++answers_in_flight_;
}

void Metrics::AnswerEnded() {
  std::lock_guard lock(mutex_);
  --answers_in_flight_;
}

void Metrics::AnswerRefused() {
  std::lock_guard lock(mutex_);
  ++answers_refused_;
}

void Metrics::RateLimited(std::string_view reason) {
  std::lock_guard lock(mutex_);
  ++(reason == "rate" ? rate_limited_ : concurrency_limited_);
}

std::string Metrics::Render(const app::StatusReport& status) const {
  std::string out;
  Header(out, "cloister_build_info", "gauge", "Cloister's version, as a label.");
  Sample(out, "cloister_build_info", "version=\"" + Escaped(status.version) + "\"", 1);
  Header(out, "cloister_process_start_time_seconds", "gauge", "When the process started, unix seconds.");
  Sample(out, "cloister_process_start_time_seconds", "", started_);  // set once, at construction
  Header(out, "cloister_process_resident_memory_bytes", "gauge", "Resident memory of the process (VmRSS).");
  Sample(out, "cloister_process_resident_memory_bytes", "", ResidentBytes());

  Header(out, "cloister_documents", "gauge", "Documents in the catalog by status.");
  for (const auto& [name, n] : status.documents_by_status) {
    Sample(out, "cloister_documents", "status=\"" + Escaped(name) + "\"", static_cast<double>(n));
  }
  Header(out, "cloister_chunks", "gauge", "Passages in the catalog.");
  Sample(out, "cloister_chunks", "", static_cast<double>(status.chunks));
  Header(out, "cloister_embeddings", "gauge", "Passages with a vector from the embedding model.");
  Sample(out, "cloister_embeddings", "", static_cast<double>(status.embeddings));
  Header(out, "cloister_ingestion_jobs", "gauge",
         "Ingestion jobs by state; done and failed only grow, so rate() of them is the ingestion rate.");
  for (const auto& [name, n] : status.jobs_by_state) {
    Sample(out, "cloister_ingestion_jobs", "state=\"" + Escaped(name) + "\"", static_cast<double>(n));
  }
  Header(out, "cloister_index_vectors", "gauge", "Vectors in the FAISS index.");
  Sample(out, "cloister_index_vectors", "kind=\"" + Escaped(status.index_kind) + "\"", static_cast<double>(status.index_size));

  std::lock_guard lock(mutex_);

  Header(out, "cloister_http_requests_total", "counter", "HTTP requests answered, by route, method and status.");
  for (const auto& [key, n] : requests_) {
    size_t a = key.find('\t'), b = key.find('\t', a + 1);
    Sample(out, "cloister_http_requests_total",
           "route=\"" + Escaped(key.substr(0, a)) + "\",method=\"" + Escaped(key.substr(a + 1, b - a - 1)) +
               "\",code=\"" + key.substr(b + 1) + "\"",
           static_cast<double>(n));
  }
  Header(out, "cloister_http_request_duration_seconds", "histogram", "Time to answer an HTTP request, by route.");
  for (const auto& [route, h] : request_seconds_) {
    h.Render(out, "cloister_http_request_duration_seconds", "route=\"" + Escaped(route) + "\"");
  }
  Header(out, "cloister_search_duration_seconds", "histogram", "Time to search, by mode (hybrid, lexical).");
  for (const auto& [mode, h] : search_seconds_) {
    h.Render(out, "cloister_search_duration_seconds", "mode=\"" + Escaped(mode) + "\"");
  }
  Header(out, "cloister_answer_duration_seconds", "histogram", "Time to a whole answer, by mode (generated, extractive).");
  for (const auto& [mode, h] : answer_seconds_) {
    h.Render(out, "cloister_answer_duration_seconds", "mode=\"" + Escaped(mode) + "\"");
  }
  Header(out, "cloister_answer_first_token_seconds", "histogram", "Time to a generated answer's first token.");
  first_token_seconds_.Render(out, "cloister_answer_first_token_seconds", "");
  Header(out, "cloister_answer_tokens_total", "counter", "Tokens read (prompt) and written (completion) by the chat model.");
  Sample(out, "cloister_answer_tokens_total", "kind=\"prompt\"", static_cast<double>(prompt_tokens_));
  Sample(out, "cloister_answer_tokens_total", "kind=\"completion\"", static_cast<double>(completion_tokens_));
  Header(out, "cloister_answer_generating_seconds_total", "counter",
         "Seconds spent writing answers after their first token; completion tokens over this is tokens/s.");
  Sample(out, "cloister_answer_generating_seconds_total", "", generating_seconds_);
  Header(out, "cloister_answers_in_flight", "gauge", "Answers being written or waiting for a slot.");
  Sample(out, "cloister_answers_in_flight", "", static_cast<double>(answers_in_flight_));
  Header(out, "cloister_answer_slots", "gauge", "Answers the chat model writes at once.");
  Sample(out, "cloister_answer_slots", "", answer_slots_);
  Header(out, "cloister_answers_refused_total", "counter", "Answers refused as busy (503 with Retry-After).");
  Sample(out, "cloister_answers_refused_total", "", static_cast<double>(answers_refused_));
  Header(out, "cloister_http_rate_limited_total", "counter",
         "Requests refused by the per-client limits (429 with Retry-After), by the limit met.");
  Sample(out, "cloister_http_rate_limited_total", "reason=\"rate\"", static_cast<double>(rate_limited_));
  Sample(out, "cloister_http_rate_limited_total", "reason=\"concurrency\"",
         static_cast<double>(concurrency_limited_));
  return out;
}

}  // namespace cloister::web
