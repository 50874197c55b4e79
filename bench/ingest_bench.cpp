// bench/ingest: ingestion throughput against pdftotext, measured in the same run.
//
//   build/bin/bench_ingest [--corpus DIR] [--repeat N]
//
// PDFs: pages per second of extraction + chunking + storage (models off, the sandboxed worker
// per file, as in production) against `pdftotext FILE /dev/null` on the same files with the
// same parallelism (one process per file, as many at once as we run workers). OCR is off for
// the ratio, since pdftotext does not OCR; a second run reports throughput with OCR on.
// Mail: messages per second on the mail corpus.
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cloister/app/knowledge_base.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::vector<fs::path> FilesUnder(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && (ext.empty() || e.path().extension() == ext)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int RunQuiet(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// pdftotext over `files`, `parallel` processes at a time. Seconds.
double TimePdftotext(const std::vector<fs::path>& files, int parallel) {
  auto start = Clock::now();
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < files.size();) RunQuiet({"pdftotext", files[i].string(), "/dev/null"});
    });
  }
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Run {
  double seconds = 0;
  cloister::app::IngestReport report;
};

Run TimeIngest(const std::vector<fs::path>& files, bool ocr, int workers) {
  fs::path data = fs::temp_directory_path() / ("cloister-bench-" + std::to_string(::getpid()));
  fs::remove_all(data);
  cloister::app::Config config;
  config.data_dir = data;
  config.models_dir = data / "no-models";
  config.ingest.worker_binary = CLOISTER_BINARY;
  config.ingest.ocr = ocr;
  config.ingest.workers = workers;
  auto kb = cloister::app::KnowledgeBase::Open(config);
  if (!kb.ok()) {
    std::fprintf(stderr, "cannot open a knowledge base: %s\n", kb.status().ToString().c_str());
    std::exit(2);
  }
  auto start = Clock::now();
  auto report = (*kb)->Ingest(files, {});
  Run run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (report.ok()) run.report = *report;
  kb->reset();
  fs::remove_all(data);
  return run;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  fs::path corpus = fs::path(CLOISTER_SHARED_DIR) / "corpus";
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--corpus") corpus = argv[i + 1];
    if (a == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  const int workers = 2;
  std::vector<fs::path> pdfs = FilesUnder(corpus / "pdfs", ".pdf");
  std::vector<double> ours, ref;
  Run last;
  for (int r = 0; r < repeat; ++r) {
    last = TimeIngest(pdfs, /*ocr=*/false, workers);
    ours.push_back(last.seconds);
    ref.push_back(TimePdftotext(pdfs, workers));
  }
  double pages = static_cast<double>(last.report.pages);
  double our_rate = pages / Median(ours), ref_rate = pages / Median(ref);
  std::printf("ingest (PDF, OCR off): %zu files (%zu ingested, %zu refused), %.0f pages\n", pdfs.size(),
              last.report.ingested.size(), last.report.failed.size(), pages);
  std::printf("  cloister   %8.1f pages/s  (median of %d: %.2f s, %lld chunks)\n", our_rate, repeat,
              Median(ours), static_cast<long long>(last.report.chunks));
  std::printf("  pdftotext  %8.1f pages/s  (median of %d: %.2f s, same files, %d at a time)\n", ref_rate,
              repeat, Median(ref), workers);
  std::printf("  ratio      %8.2f  (target >= 0.80)\n", our_rate / ref_rate);

  Run ocr = TimeIngest(pdfs, /*ocr=*/true, workers);
  std::printf("ingest (PDF, OCR on): %.0f pages in %.2f s = %.1f pages/s\n",
              static_cast<double>(ocr.report.pages), ocr.seconds, ocr.report.pages / ocr.seconds);

  // A large mbox shows streaming throughput; the corpus shows the hard cases.
  fs::path box = fs::temp_directory_path() / ("cloister-bench-" + std::to_string(::getpid()) + ".mbox");
  {
    std::ofstream out(box);
    for (int i = 0; i < 5000; ++i) {
      out << "From sender" << i << "@example.org Mon Jan  1 00:00:00 2024\n"
          << "From: Sender " << i << " <sender" << i << "@example.org>\nTo: team@example.org\n"
          << "Subject: Weekly report " << i << "\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n"
          << "Message-ID: <" << i << "@example.org>\n\n"
          << "Hello team,\nthe figures for week " << i << " are attached in the usual place. "
          << "Turnover rose slightly; the warehouse count is due on Friday.\n\nRegards\n\n";
    }
  }
  Run big = TimeIngest({box}, /*ocr=*/false, workers);
  fs::remove(box);
  std::printf("ingest (mbox, 5000 messages): %lld documents in %.2f s = %.1f messages/s\n",
              static_cast<long long>(big.report.documents), big.seconds, big.report.documents / big.seconds);

  std::vector<fs::path> mail = FilesUnder(corpus / "mail", "");
  Run m = TimeIngest(mail, /*ocr=*/false, workers);
  std::printf("ingest (mail): %zu files, %lld documents (messages and attachments) in %.2f s = %.1f documents/s\n",
              mail.size(), static_cast<long long>(m.report.documents), m.seconds, m.report.documents / m.seconds);
  return 0;
}
