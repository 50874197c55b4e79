// bench/http: the real `cloister serve` under HTTP load, in one run.
//
//   build/bin/bench_http [--chunks 10000] [--duration 30] [--connections 64] [--wrk-threads 2]
//                        [--timeout 10] [--method POST|GET] [--burst 20] [--streaming 4]
//                        [--ask-k 2] [--ask-tokens 16] [--ask-timeout 300]
//                        [--chat-model FILE.gguf] [--keep DIR] [--wrk PATH]
//
// 1. A folder with a collection of --chunks chunks and its vectors written straight into the
//    catalog, and a random-weight embedding model of bge-small's shape (synthetic_collection.h,
//    as bench_hybrid makes them), so search is hybrid; and a chat model: a random-weight model of
//    Qwen2.5-0.5B's shape, Q4_K_M (as bench_generate builds it), or --chat-model FILE.
// 2. `cloister serve --port 0` on 127.0.0.1 with that folder (the default 4 answer slots and queue
//    of 16: serve has no flag for them), waiting for its url in the log and /api/v1/health.
//    Its per-client limits are off (CLOISTER_SERVER_CLIENT_*=0 in its environment): wrk and the
//    burst all come from 127.0.0.1, one client standing in for many, and what is measured is the
//    server and the engine's shared queue, not one client's allowance (docs/API.md).
//    A few searches warm it up (the first opens the embedding model and builds the vector index).
// 3. wrk (bench/http_load.lua) against /api/v1/search, --connections connections for --duration
//    seconds, each request the next of the XQuAD and PubMedQA questions (POST JSON, or GET with
//    ?q= under --method GET): requests/s, latency percentiles, and errors (non-2xx statuses and
//    socket errors: connect, read, write, timeouts after --timeout s). Then the same load against
//    /api/v1/health, the server's floor: search requests/s as a share of it.
// 4. A burst of --burst concurrent POST /api/v1/ask (--streaming of them streamed), k --ask-k,
//    max_tokens --ask-tokens, each with a deadline of --ask-timeout s, after one ask that loads
//    the chat model. Each must end answered (200 with an answer; streamed: a `done` event) or
//    refused (503 with Retry-After): none lost, none hung.
// 5. The server's resident memory (VmRSS, /proc/PID/status) idle, warmed up, after the search
//    load and after the burst, and the CPU it, wrk and the rest of the machine used under load.
// Then SIGTERM: the server must exit 0 within its shutdown grace (120 s by default, for answers in
// progress) and 30 s more. Exit status 1 when any check failed; the folder is then kept.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "http_client.h"
#include "synthetic_collection.h"

namespace {

using namespace cloister::bench;  // bench_util.h, http_client.h, synthetic_collection.h

constexpr char kChatModelFile[] = "qwen2.5-0.5b-shape-q4_k_m.gguf";
constexpr int kWarmupSearches = 5;

struct Args {
  int64_t chunks = 10000;
  int duration = 30;
  int connections = 64;
  int wrk_threads = 2;
  int timeout = 10;  // wrk's socket timeout, seconds
  std::string method = "POST";
  int burst = 20;
  int streaming = 4;
  int ask_k = 2;
  int ask_tokens = 16;
  int ask_timeout = 300;
  fs::path chat_model;  // empty: build the Qwen2.5-0.5B-shaped model
  fs::path keep;
  std::string wrk = "wrk";
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  std::map<std::string, int*> numbers = {{"--duration", &a.duration},
                                         {"--connections", &a.connections},
                                         {"--wrk-threads", &a.wrk_threads},
                                         {"--timeout", &a.timeout},
                                         {"--burst", &a.burst},
                                         {"--streaming", &a.streaming},
                                         {"--ask-k", &a.ask_k},
                                         {"--ask-tokens", &a.ask_tokens},
                                         {"--ask-timeout", &a.ask_timeout}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (numbers.count(k)) {
      *numbers[k] = std::atoi(v.c_str());
    } else if (k == "--chunks") {
      a.chunks = std::atoll(v.c_str());
    } else if (k == "--method") {
      a.method = v;
    } else if (k == "--chat-model") {
      a.chat_model = fs::absolute(v);
    } else if (k == "--keep") {
      a.keep = v;
    } else if (k == "--wrk") {
      a.wrk = v;
    } else {
      Die("unknown option " + k + " (see the comment at the top of bench/http_bench.cpp)");
    }
  }
  if (argc % 2 == 0) Die(std::string("option ") + argv[argc - 1] + " needs a value");
  bool ok = a.chunks >= kChunksPerDocument && a.duration > 0 && a.wrk_threads > 0 &&
            a.connections >= a.wrk_threads && a.timeout > 0 && a.burst > 0 && a.streaming >= 0 &&
            a.streaming <= a.burst && a.ask_k > 0 && a.ask_tokens > 0 && a.ask_timeout > 0 &&
            (a.method == "POST" || a.method == "GET");
  if (!ok) Die("an option is out of range (see the comment at the top of bench/http_bench.cpp)");
  return a;
}

Poco::JSON::Object::Ptr ParseObject(const std::string& text) {
  try {
    return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
  } catch (const std::exception&) {
    return nullptr;
  }
}

// ---- The server process ----

struct Server {
  pid_t pid = 0;
  uint16_t port = 0;
  fs::path log;
};

// The server's per-client limits, all off (see 2. above).
const std::vector<std::string> kNoClientLimits = {
    "CLOISTER_SERVER_CLIENT_REQUESTS_PER_SECOND=0", "CLOISTER_SERVER_CLIENT_CONCURRENT_ANSWERS=0",
    "CLOISTER_SERVER_CLIENT_CONCURRENT_REQUESTS=0"};

// The server while it runs: Die (std::exit) must not leave it behind.
pid_t g_server_pid = 0;

void KillServerAtExit() {
  if (g_server_pid > 0) kill(g_server_pid, SIGKILL);
}

Server StartServer(const fs::path& dir) {
  Server s;
  s.log = dir / "serve.log";
  fs::create_directories(dir / "inbox");
  std::vector<std::string> args = {CLOISTER_BINARY, "serve",
                                   "--port",        "0",
                                   "--bind",        "127.0.0.1",
                                   "--data",        (dir / "data").string(),
                                   "--models",      (dir / "models").string(),
                                   "--inbox",       (dir / "inbox").string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_vars = kNoClientLimits;
  std::vector<char*> env;
  for (auto& v : env_vars) env.push_back(v.data());
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "CLOISTER_SERVER_CLIENT_", 23) != 0) env.push_back(*e);
  }
  env.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, (dir / "serve.out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, s.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int rc = posix_spawn(&s.pid, argv[0], &fa, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Die(std::string("cannot start ") + CLOISTER_BINARY);
  g_server_pid = s.pid;
  std::atexit(KillServerAtExit);
  std::regex url(R"(url=http://127\.0\.0\.1:(\d+))");
  std::smatch m;
  for (int i = 0; i < 1200; ++i) {
    std::string log = ReadFile(s.log);
    if (std::regex_search(log, m, url)) {
      s.port = static_cast<uint16_t>(std::stoi(m[1]));
      return s;
    }
    int status = 0;
    if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
      g_server_pid = 0;
      Die("cloister serve exited at start:\n" + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Die("cloister serve logged no url within 60 s; see " + s.log.string());
}

void WaitHealthy(const Server& s) {
  for (int i = 0; i < 600; ++i) {
    HttpReply r = Http(s.port, "GET", "/api/v1/health", "", 5);
    if (r.status == 200 && r.body.find("\"ok\"") != std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Die("/api/v1/health did not answer 200 within 30 s");
}

// User + system CPU seconds of a process so far (/proc/PID/stat), 0 when it is gone.
double ProcessCpu(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i >= 14) ticks += std::atof(field.c_str());  // utime (14) and stime (15)
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void PrintMemory(const Server& s, const char* when) {
  std::string pid = std::to_string(s.pid);
  std::printf("  server resident %-42s VmRSS %6.0f MiB  (peak VmHWM %6.0f MiB, %2.0f threads)\n",
              when, StatusMiB("VmRSS:", pid), StatusMiB("VmHWM:", pid),
              StatusValue("Threads:", pid));
  std::fflush(stdout);
}

// `cloister serve`'s default --shutdown-grace: answers in progress get this long after SIGTERM.
constexpr int kShutdownGraceSeconds = 120;

// SIGTERM, then up to the grace and 30 s for the process to exit; prints how it ended. False
// unless it exited 0.
bool StopServer(const Server& s) {
  auto start = Clock::now();
  kill(s.pid, SIGTERM);
  g_server_pid = 0;
  int status = 0;
  pid_t done = 0;
  while (done == 0 && Seconds(start) < kShutdownGraceSeconds + 30) {
    done = waitpid(s.pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (done != s.pid) {
    kill(s.pid, SIGKILL);
    waitpid(s.pid, &status, 0);
    std::printf("SIGTERM: the server had not exited after %d s; killed (CHECK FAILED)\n",
                kShutdownGraceSeconds + 30);
    return false;
  }
  bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::string log = ReadFile(s.log);
  bool logged = log.find("stopped") != std::string::npos;
  size_t waited = log.find("finishing requests in flight");
  if (waited != std::string::npos)
    std::printf("  server log: %s\n", log.substr(waited, log.find('\n', waited) - waited).c_str());
  std::printf("SIGTERM: the server exited in %.2f s, %s %d%s%s\n", Seconds(start),
              WIFEXITED(status) ? "status" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
              logged ? ", logged \"stopped\"" : "", clean ? "" : " (CHECK FAILED)");
  return clean;
}

// The server log's warnings and errors: how many, and the first few.
void PrintLogProblems(const Server& s) {
  std::istringstream log(ReadFile(s.log));
  int warnings = 0, errors = 0;
  std::vector<std::string> first;
  for (std::string line; std::getline(log, line);) {
    bool warn = line.find("Z warn ") != std::string::npos;
    bool error = line.find("Z error ") != std::string::npos;
    warnings += warn ? 1 : 0;
    errors += error ? 1 : 0;
    if ((warn || error) && first.size() < 5) first.push_back(line.substr(0, 200));
  }
  std::printf("server log: %d warnings, %d errors (%s)\n", warnings, errors, s.log.c_str());
  for (const auto& line : first) std::printf("    %s\n", line.c_str());
}

// ---- Requests ----

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char esc[4];
      std::snprintf(esc, sizeof esc, "%%%02X", c);
      out += esc;
    }
  }
  return out;
}

std::string SearchBody(const std::string& q) {
  return "{\"query\": " + JsonString(q) + ", \"k\": 10}";
}

// The request file http_load.lua reads: one search per question.
fs::path WriteSearchRequests(const fs::path& dir, const std::vector<std::string>& questions,
                             const std::string& method) {
  fs::path file = dir / "search-requests.txt";
  std::ofstream out(file);
  for (const auto& q : questions) {
    if (method == "GET")
      out << "GET /api/v1/search?q=" << UrlEncode(q) << "&k=10\n";
    else
      out << "POST /api/v1/search " << SearchBody(q) << "\n";
  }
  if (!out) Die("cannot write " + file.string());
  return file;
}

// The first searches: the first opens the embedding model and the vector index.
void WarmUp(const Server& s, const std::vector<std::string>& questions) {
  for (int i = 0; i < kWarmupSearches; ++i) {
    HttpReply r = Http(s.port, "POST", "/api/v1/search", SearchBody(questions[i]), 120);
    auto json = r.status == 200 ? ParseObject(r.body) : nullptr;
    if (!json) Die("warm-up search failed: " + std::to_string(r.status) + " " + r.error + r.body);
    if (json->optValue<std::string>("mode", "") != "hybrid")
      Die("the server does not search in hybrid mode: " + r.body.substr(0, 200));
    size_t results = json->getArray("results") ? json->getArray("results")->size() : 0;
    if (i == 0)
      std::printf(
          "first search: %.2f s (opens the embedding model and the vector index), hybrid, "
          "%zu results\n",
          r.seconds, results);
  }
}

// ---- wrk ----

struct WrkResult {
  int64_t requests = 0, bytes = 0, empty = 0;
  double seconds = 0;
  int64_t connect = 0, read = 0, write = 0, status_errors = 0, timeouts = 0;
  std::map<std::string, double> latency_ms;  // min, mean, max, p50, p75, p90, p99, p999
  std::map<int, int64_t> statuses;
  double wrk_cpu = 0, server_cpu = 0, others_cpu = 0;  // cores, on average
  int64_t errors() const { return connect + read + write + status_errors + timeouts; }
  double rate() const { return static_cast<double>(requests) / seconds; }
};

void ParseWrkLine(const std::string& line, WrkResult* w) {
  std::istringstream in(line.substr(std::strlen("bench_http: ")));
  std::string key, name;
  in >> key;
  if (key == "requests") in >> w->requests;
  if (key == "bytes") in >> w->bytes;
  if (key == "empty") in >> w->empty;
  if (key == "duration_us") {
    double us = 0;
    in >> us;
    w->seconds = us / 1e6;
  }
  if (key == "errors") {
    in >> name >> w->connect >> name >> w->read >> name >> w->write >> name >> w->status_errors >>
        name >> w->timeouts;
  }
  if (key == "latency_us") {
    for (double v; in >> name >> v;) w->latency_ms[name] = v / 1000;
  }
  if (key == "status") {
    int status = 0;
    int64_t n = 0;
    in >> status >> n;
    w->statuses[status] = n;
  }
}

std::vector<std::string> WrkCommand(const Args& a, uint16_t port, const fs::path& requests) {
  return {a.wrk,
          "-t",
          std::to_string(a.wrk_threads),
          "-c",
          std::to_string(a.connections),
          "-d",
          std::to_string(a.duration) + "s",
          "--timeout",
          std::to_string(a.timeout) + "s",
          "--latency",
          "-s",
          CLOISTER_BENCH_DIR "/http_load.lua",
          "http://127.0.0.1:" + std::to_string(port),
          "--",
          requests.string()};
}

WrkResult RunWrk(const Args& a, const Server& s, const fs::path& requests, const fs::path& out) {
  double server_cpu = ProcessCpu(s.pid), busy = MachineBusySeconds();
  Timed t = TimeProcess(WrkCommand(a, s.port, requests), out, out.string() + ".err");
  WrkResult w;
  std::istringstream text(ReadFile(out));
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("bench_http: ", 0) == 0) ParseWrkLine(line, &w);
  }
  if (w.seconds <= 0) Die("no summary from wrk in " + out.string());
  double server = ProcessCpu(s.pid) - server_cpu;
  w.wrk_cpu = t.cpu / t.wall;
  w.server_cpu = server / t.wall;
  w.others_cpu = std::max(0.0, (MachineBusySeconds() - busy - server - t.cpu) / t.wall);
  return w;
}

void PrintWrk(const char* what, const WrkResult& w) {
  std::printf("  %-22s %9.1f req/s  (%lld requests in %.1f s)\n", what, w.rate(),
              static_cast<long long>(w.requests), w.seconds);
  auto l = w.latency_ms;
  std::printf(
      "  %-22s p50 %.2f  p75 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms"
      "  (mean %.2f)\n",
      "latency", l["p50"], l["p75"], l["p90"], l["p99"], l["p999"], l["max"], l["mean"]);
  std::string statuses;
  for (auto [status, n] : w.statuses)
    statuses += " " + std::to_string(status) + ": " + std::to_string(n);
  std::printf(
      "  %-22s non-2xx %lld, socket connect %lld read %lld write %lld timeout %lld;"
      " statuses%s\n",
      "errors", static_cast<long long>(w.status_errors), static_cast<long long>(w.connect),
      static_cast<long long>(w.read), static_cast<long long>(w.write),
      static_cast<long long>(w.timeouts), statuses.c_str());
  std::printf("  %-22s server %.2f, wrk %.2f, everything else %.2f\n", "CPU (cores, mean)",
              w.server_cpu, w.wrk_cpu, w.others_cpu);
  std::fflush(stdout);
}

// ---- The ask burst ----

struct AskOutcome {
  bool stream = false;
  HttpReply reply;
  std::string outcome;  // answered, refused, and else what went wrong
  int64_t prompt_tokens = 0, completion_tokens = 0;
  bool evidence = false;
};

std::string AskBody(const std::string& q, const Args& a, bool stream) {
  return "{\"question\": " + JsonString(q) + ", \"k\": " + std::to_string(a.ask_k) +
         ", \"max_tokens\": " + std::to_string(a.ask_tokens) +
         ", \"stream\": " + (stream ? "true" : "false") + "}";
}

// The answer object: the body, or a stream's `done` event.
Poco::JSON::Object::Ptr AnswerObject(const AskOutcome& o) {
  if (!o.stream) return ParseObject(o.reply.body);
  size_t at = o.reply.body.find("event: done\ndata: ");
  if (at == std::string::npos) return nullptr;
  at += std::strlen("event: done\ndata: ");
  return ParseObject(o.reply.body.substr(at, o.reply.body.find('\n', at) - at));
}

void Classify(AskOutcome& o) {
  const HttpReply& r = o.reply;
  if (!r.error.empty()) {
    o.outcome = r.error;
  } else if (r.status == 503) {
    o.outcome = Header(r, "Retry-After").empty() ? "503 without Retry-After" : "refused";
  } else if (r.status != 200) {
    o.outcome = "status " + std::to_string(r.status);
  } else if (!IsUtf8(r.body)) {
    o.outcome = "200, body not UTF-8";
  } else if (auto answer = AnswerObject(o); !answer) {
    o.outcome = o.stream ? "stream without a done event" : "200 without JSON";
  } else {
    std::string text = answer->optValue<std::string>("answer", "");
    o.outcome = text.empty() ? "200 with an empty answer" : "answered";
    o.evidence = answer->optValue<bool>("evidence", false);
    if (auto usage = answer->getObject("usage")) {
      o.prompt_tokens = usage->optValue<int64_t>("prompt_tokens", 0);
      o.completion_tokens = usage->optValue<int64_t>("completion_tokens", 0);
    }
  }
}

std::vector<AskOutcome> Burst(const Args& a, const Server& s,
                              const std::vector<std::string>& questions) {
  std::vector<AskOutcome> out(static_cast<size_t>(a.burst));
  std::atomic<int> ready{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < a.burst; ++i) {
    // --streaming of them, spread over the burst.
    out[i].stream = (i * a.streaming) / a.burst != ((i + 1) * a.streaming) / a.burst;
    clients.emplace_back([&, i] {
      ++ready;
      while (ready.load() < a.burst) std::this_thread::yield();
      const std::string& q = questions[static_cast<size_t>(i) % questions.size()];
      out[i].reply =
          Http(s.port, "POST", "/api/v1/ask", AskBody(q, a, out[i].stream), a.ask_timeout);
      Classify(out[i]);
    });
  }
  for (auto& c : clients) c.join();
  return out;
}

bool PrintBurst(const std::vector<AskOutcome>& burst, double wall) {
  std::map<std::string, int> counts;
  std::vector<double> answered, refused;
  for (size_t i = 0; i < burst.size(); ++i) {
    const AskOutcome& o = burst[i];
    ++counts[o.outcome];
    if (o.outcome == "answered") answered.push_back(o.reply.seconds);
    if (o.outcome == "refused") refused.push_back(o.reply.seconds);
    std::printf("    #%-2zu %-9s %-8s %3d %7.2f s", i + 1, o.stream ? "streamed" : "plain",
                o.outcome.c_str(), o.reply.status, o.reply.seconds);
    if (o.outcome == "answered") {
      std::printf("  prompt %lld tokens, generated %lld%s", static_cast<long long>(o.prompt_tokens),
                  static_cast<long long>(o.completion_tokens), o.evidence ? "" : ", no evidence");
    }
    if (o.stream && o.reply.first_token_s > 0)
      std::printf(", first token event at %.2f s", o.reply.first_token_s);
    if (o.outcome != "answered" && o.outcome != "refused" && o.reply.status != 0) {
      std::string start = o.reply.body.substr(0, 160);
      std::replace(start.begin(), start.end(), '\n', ' ');
      std::printf("  body (%zu bytes): %s", o.reply.body.size(), start.c_str());
    }
    std::printf("\n");
  }
  std::string summary;
  for (auto [what, n] : counts)
    summary += (summary.empty() ? "" : ", ") + what + " " + std::to_string(n);
  int good = counts["answered"] + counts["refused"];
  std::printf("  burst: %s in %.1f s; answered latency p50 %.2f s max %.2f s", summary.c_str(),
              wall, Median(answered), answered.empty() ? 0 : Percentile(answered, 1.0));
  if (counts["refused"] > 0)
    std::printf("; refused (503) latency max %.2f s", Percentile(refused, 1.0));
  std::printf("\n  every request answered or refused with Retry-After: %s\n",
              good == static_cast<int>(burst.size()) ? "yes" : "NO (CHECK FAILED)");
  std::fflush(stdout);
  return good == static_cast<int>(burst.size());
}

// ---- Setup ----

fs::path PrepareChatModel(const Args& a, const fs::path& models) {
  if (!a.chat_model.empty()) {
    fs::path link = models / a.chat_model.filename();
    if (!fs::exists(link)) fs::create_symlink(a.chat_model, link);
    std::printf("chat model: %s (given)\n", a.chat_model.c_str());
    return link;
  }
  fs::path q4 = models / kChatModelFile;
  if (!fs::exists(q4)) {
    BuildQuantizedModel(cloister::llm::SyntheticModelSpec::Qwen25HalfBShape(
                            fs::path(CLOISTER_VOCAB_DIR) / "ggml-vocab-qwen2.gguf"),
                        q4, "Q4_K_M");
  }
  std::printf("chat model: %s, random weights of Qwen2.5-0.5B's shape, Q4_K_M (%.0f MiB)\n",
              q4.filename().c_str(), static_cast<double>(fs::file_size(q4)) / (1 << 20));
  return q4;
}

// The questions whose best passages hold their words: XQuAD's, which the chunks quote.
std::vector<std::string> AskQuestions(const std::vector<std::string>& all) {
  std::ifstream in(fs::path(CLOISTER_SHARED_DIR) / "eval/xquad/beir-en/queries.jsonl");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (auto q = ParseObject(line)) out.push_back(q->getValue<std::string>("text"));
  }
  return out.empty() ? all : out;
}

// Polls /api/v1/health until it answers 200; how long that took, and how many attempts got no
// response (the connection closed first) or another status.
bool PrintRecovery(const Server& s) {
  auto start = Clock::now();
  int failed = 0;
  std::string last;
  for (; Seconds(start) < 120; ++failed) {
    HttpReply r = Http(s.port, "GET", "/api/v1/health", "", 5);
    if (r.status == 200) break;
    last = r.error.empty() ? "status " + std::to_string(r.status) : r.error;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bool recovered = Seconds(start) < 120;
  std::printf("  %-22s /api/v1/health %s %.2f s after wrk stopped", "recovery",
              recovered ? "answered 200 again" : "had not answered 200 (CHECK FAILED)",
              Seconds(start));
  if (failed > 0) std::printf(" (%d attempts before failed, the last: %s)", failed, last.c_str());
  std::printf("\n");
  std::fflush(stdout);
  return recovered;
}

// The floor (/api/v1/health), then the search load; false when either had errors.
bool Load(const Args& args, const Server& server, const fs::path& dir,
          const std::vector<std::string>& questions) {
  fs::path search = WriteSearchRequests(dir, questions, args.method);
  fs::path health = dir / "health-requests.txt";
  std::ofstream(health) << "GET /api/v1/health\n";
  std::printf("\nfloor, wrk against /api/v1/health: %s\n",
              Joined(WrkCommand(args, server.port, health)).c_str());
  WrkResult h = RunWrk(args, server, health, dir / "wrk-health.out");
  PrintWrk("/api/v1/health", h);
  std::printf("\nsearch load, the same against /api/v1/search (%zu distinct questions, %s)\n",
              questions.size(), args.method.c_str());
  WrkResult s = RunWrk(args, server, search, dir / "wrk-search.out");
  PrintWrk("/api/v1/search", s);
  std::printf("  %-22s %lld of %lld\n", "200 with no results", static_cast<long long>(s.empty),
              static_cast<long long>(s.requests));
  bool recovered = PrintRecovery(server);
  PrintMemory(server, "after the search load");
  bool ok = s.errors() == 0 && h.errors() == 0;
  std::printf(
      "  search req/s / health req/s: %.4f  (%.1f / %.1f); errors: search %lld, health "
      "%lld (target 0)%s\n",
      s.rate() / h.rate(), s.rate(), h.rate(), static_cast<long long>(s.errors()),
      static_cast<long long>(h.errors()), ok ? "" : " (CHECK FAILED)");
  return ok && recovered;
}

// One ask that loads the chat model, then the burst; false unless every request of the burst
// was answered or refused with Retry-After and the server is healthy after it.
bool AskBurst(const Args& args, const Server& server, const std::vector<std::string>& questions) {
  std::vector<std::string> asked = AskQuestions(questions);
  std::printf(
      "\nask burst: %d concurrent POST /api/v1/ask (%d streamed), k %d, max_tokens %d, "
      "deadline %d s each; the server has 4 answer slots and a queue of 16\n",
      args.burst, args.streaming, args.ask_k, args.ask_tokens, args.ask_timeout);
  AskOutcome first;
  first.reply = Http(server.port, "POST", "/api/v1/ask", AskBody(asked.back(), args, false),
                     args.ask_timeout);
  Classify(first);
  std::printf(
      "  first ask (loads the chat model): %s, %d, %.2f s, prompt %lld tokens, "
      "generated %lld\n",
      first.outcome.c_str(), first.reply.status, first.reply.seconds,
      static_cast<long long>(first.prompt_tokens), static_cast<long long>(first.completion_tokens));
  if (first.outcome != "answered") Die("the first ask failed: " + first.reply.body);
  double server_cpu = ProcessCpu(server.pid), busy = MachineBusySeconds();
  auto start = Clock::now();
  std::vector<AskOutcome> burst = Burst(args, server, asked);
  double wall = Seconds(start), server_used = ProcessCpu(server.pid) - server_cpu;
  bool ok = PrintBurst(burst, wall);
  std::printf("  %-22s server %.2f, everything else %.2f\n", "CPU (cores, mean)",
              server_used / wall, std::max(0.0, MachineBusySeconds() - busy - server_used) / wall);
  HttpReply after = Http(server.port, "GET", "/api/v1/health", "", 10);
  std::printf("  health after the burst: %d%s\n", after.status,
              after.status == 200 ? "" : " (CHECK FAILED)");
  PrintMemory(server, "after the burst");
  return ok && after.status == 200;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  if (std::system(("command -v '" + args.wrk + "' > /dev/null").c_str()) != 0)
    Die("cannot find " + args.wrk + ": install wrk (deploy/install-deps.sh) or give --wrk PATH");
  fs::path dir = WorkDir(args.keep, "cloister-bench-http");
  std::printf(
      "bench_http: %lld chunks, wrk %d connections x %d s (%s), ask burst %d (%d streamed)"
      "; folder %s; load average %.2f; %u cores\n",
      static_cast<long long>(args.chunks), args.connections, args.duration, args.method.c_str(),
      args.burst, args.streaming, dir.c_str(), LoadAverage(), std::thread::hardware_concurrency());
  auto setup = Clock::now();
  PrepareData(dir, args.chunks);
  BuildEmbeddingModel(dir / "models");
  PrepareChatModel(args, dir / "models");
  std::printf("setup: %.1f s\n", Seconds(setup));
  std::vector<std::string> questions = ReadQueries();

  auto started = Clock::now();
  Server server = StartServer(dir);
  WaitHealthy(server);
  std::printf("server: pid %d, http://127.0.0.1:%u, healthy %.2f s after start\n", server.pid,
              server.port, Seconds(started));
  std::printf("server: per-client limits off (CLOISTER_SERVER_CLIENT_*=0): every request comes from\n"
              "  127.0.0.1, one client standing in for many; a 429 would be a failed check\n");
  PrintMemory(server, "idle, before any search");
  WarmUp(server, questions);
  PrintMemory(server, "after 5 searches (model and index loaded)");

  bool ok = Load(args, server, dir, questions);
  ok = AskBurst(args, server, questions) && ok;
  std::printf("\n");
  ok = StopServer(server) && ok;
  PrintLogProblems(server);
  std::printf("load average %.2f at the end; %s\n", LoadAverage(),
              ok ? "all checks passed" : "SOME CHECKS FAILED");
  if (args.keep.empty() && ok) fs::remove_all(dir);
  if (!ok) std::printf("kept %s (server log, wrk output)\n", dir.c_str());
  return ok ? 0 : 1;
}
