// web/src/metrics.h: what GET /metrics renders, read back by a strict exposition reader.
#include "metrics.h"

#include <gtest/gtest.h>

#include "prometheus_text.h"

namespace cloister::web {
namespace {

TEST(MetricsTest, RendersWellFormedFamiliesWithCumulativeHistograms) {
  Metrics metrics(4);
  metrics.ObserveRequest("/api/v1/search", "POST", 200, 0.03);
  metrics.ObserveRequest("/api/v1/search", "POST", 200, 0.2);
  metrics.ObserveRequest("/api/v1/search", "POST", 400, 0.001);
  metrics.ObserveRequest("other", "GET", 404, 0.0005);
  metrics.ObserveSearch("hybrid", 0.04);
  metrics.AnswerStarted();
  metrics.AnswerStarted();
  metrics.AnswerEnded();
  metrics.AnswerRefused();
  metrics.ObserveAnswer("generated", 3.0, 1.0, 700, 40);
  metrics.ObserveAnswer("extractive", 0.05, -1, 0, 0);
  app::StatusReport status;
  status.version = "1.2.3 \"quoted\"";
  status.chunks = 12;
  status.embeddings = 10;
  status.documents_by_status = {{"ready", 3}, {"failed", 1}};
  status.jobs_by_state = {{"done", 4}, {"queued", 2}};
  status.index_kind = "Flat";
  status.index_size = 10;

  std::string text = metrics.Render(status);
  auto e = exposition::ParseExposition(text);
  EXPECT_EQ(e.problems, std::vector<std::string>{}) << text;
  EXPECT_EQ(e.types["cloister_http_request_duration_seconds"], "histogram");
  EXPECT_EQ(e.types["cloister_http_requests_total"], "counter");
  EXPECT_EQ(e.Value(R"(cloister_http_requests_total{route="/api/v1/search",method="POST",code="200"})"), 2);
  EXPECT_EQ(e.Value(R"(cloister_http_requests_total{route="/api/v1/search",method="POST",code="400"})"), 1);
  EXPECT_EQ(e.Value(R"(cloister_http_request_duration_seconds_bucket{route="/api/v1/search",le="0.05"})"), 2);
  EXPECT_EQ(e.Value(R"(cloister_http_request_duration_seconds_bucket{route="/api/v1/search",le="+Inf"})"), 3);
  EXPECT_EQ(e.Value(R"(cloister_http_request_duration_seconds_count{route="/api/v1/search"})"), 3);
  EXPECT_NEAR(e.Value(R"(cloister_http_request_duration_seconds_sum{route="/api/v1/search"})"), 0.231, 1e-9);
  EXPECT_EQ(e.Value(R"(cloister_search_duration_seconds_count{mode="hybrid"})"), 1);
  EXPECT_EQ(e.Value(R"(cloister_answer_duration_seconds_count{mode="generated"})"), 1);
  EXPECT_EQ(e.Value("cloister_answer_first_token_seconds_count"), 1) << "extractive answers have no first token";
  EXPECT_EQ(e.Value(R"(cloister_answer_tokens_total{kind="completion"})"), 40);
  EXPECT_EQ(e.Value("cloister_answer_generating_seconds_total"), 2.0);
  EXPECT_EQ(e.Value("cloister_answers_in_flight"), 1);
  EXPECT_EQ(e.Value("cloister_answer_slots"), 4);
  EXPECT_EQ(e.Value("cloister_answers_refused_total"), 1);
  EXPECT_EQ(e.Value(R"(cloister_documents{status="ready"})"), 3);
  EXPECT_EQ(e.Value(R"(cloister_ingestion_jobs{state="done"})"), 4);
  EXPECT_EQ(e.Value("cloister_chunks"), 12);
  EXPECT_EQ(e.Value(R"(cloister_index_vectors{kind="Flat"})"), 10);
  EXPECT_EQ(e.Value(R"(cloister_build_info{version="1.2.3 \"quoted\""})"), 1);
  EXPECT_GT(e.Value("cloister_process_resident_memory_bytes"), 1e6);
  EXPECT_GT(e.Value("cloister_process_start_time_seconds"), 1.7e9);
}

TEST(MetricsTest, TheReaderRefusesWhatPrometheusWould) {
  EXPECT_FALSE(exposition::ParseExposition("no_type 1\n").problems.empty());
  EXPECT_FALSE(exposition::ParseExposition("# TYPE a gauge\na{x=\"1} 2\n").problems.empty());
  EXPECT_FALSE(exposition::ParseExposition("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n")
                   .problems.empty());
}

}  // namespace
}  // namespace cloister::web
