// Small helpers every benchmark in bench/ shares: timing, medians and percentiles, child
// processes, the load average, and random-weight models of a real model's shape.
//
//   using namespace cloister::bench;
//   auto start = Clock::now();
//   Timed t = TimeProcess({"/usr/bin/true"}, dir / "out", dir / "err");   // dies unless exit 0
//   std::printf("%.2f s, median %.2f\n", Seconds(start), Median(samples));
//
// Header-only (benchmarks are single files); errors end the program through Die, with the
// program's name, exit status 2.
#pragma once

#include <errno.h>  // program_invocation_short_name
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/llm/synthetic.h"

extern char** environ;

namespace cloister::bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

[[noreturn]] inline void Die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, message.c_str());
  std::exit(2);
}

inline void Check(const Status& status, const std::string& what) {
  if (!status.ok()) Die(what + ": " + status.ToString());
}

inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

inline double CpuSeconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// User + system time of this process so far, all threads.
inline double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return CpuSeconds(u);
}

inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The value below which a share `p` (0 to 1) of `v` lies (nearest rank); 0 for none.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Whether a process with `threads` threads had its cores for the whole run: ggml's threads meet
// at a barrier after every graph node, so one preempted thread stalls the rest.
inline bool Undisturbed(double cpu, double wall, int threads) {
  return cpu >= 0.9 * threads * wall;
}

// The 1-minute load average; -1 when /proc/loadavg cannot be read.
inline double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return load;
}

// The number in a field of /proc/<pid>/status ("VmRSS:" in KiB, "Threads:"); `pid` "self" for
// this process; 0 when the process or the field is gone.
inline double StatusValue(const char* field, const std::string& pid = "self") {
  std::ifstream status("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::strtod(line.c_str() + std::strlen(field), nullptr);
  }
  return 0;
}

// A memory field of /proc/<pid>/status ("VmRSS:", "VmHWM:") in MiB.
inline double StatusMiB(const char* field, const std::string& pid = "self") {
  return StatusValue(field, pid) / 1024;
}

// CPU seconds the machine spent busy, every process and the hypervisor's steal included.
inline double MachineBusySeconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return static_cast<double>(user + nice + system + irq + softirq + steal) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `keep` (created) when given, else a new folder in the temporary directory named
// `prefix`-XXXXXX.
inline fs::path WorkDir(const fs::path& keep, const std::string& prefix) {
  if (!keep.empty()) {
    fs::create_directories(keep);
    return keep;
  }
  std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) Die("mkdtemp failed");
  return pattern;
}

// The words of a command line, joined by spaces (for printing).
inline std::string Joined(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : " ") + a;
  return out;
}

struct Timed {
  double wall = 0;
  double cpu = 0;  // user + system of the child, all threads
};

// Runs argv (argv[0] found on PATH unless it has a slash) with stdout and stderr into files;
// dies unless it exits 0.
inline Timed TimeProcess(std::vector<std::string> args, const fs::path& out, const fs::path& err) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  auto start = Clock::now();
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Die("cannot start " + args[0]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  Timed t{Seconds(start), CpuSeconds(usage)};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die(args[0] + " failed; see " + err.string());
  return t;
}

// Writes the random-weight model `spec` as F16 beside `out`, quantizes it to `out` as `type`
// ("Q8_0", "Q4_K_M", ...) and removes the F16 file; prints one line with its size and the time.
inline void BuildQuantizedModel(const llm::SyntheticModelSpec& spec, const fs::path& out,
                                const std::string& type) {
  auto start = Clock::now();
  fs::create_directories(out.parent_path());
  fs::path f16 = out.parent_path() / (out.stem().string() + ".f16.tmp");
  Check(llm::WriteSyntheticModel(spec, f16), "cannot write the model " + f16.string());
  Check(llm::QuantizeModel(f16, out, type), "cannot quantize the model " + out.string());
  fs::remove(f16);
  std::printf("model: %s (%.1f MiB, %s of random weights), built in %.1f s\n",
              out.filename().c_str(), static_cast<double>(fs::file_size(out)) / (1 << 20),
              type.c_str(), Seconds(start));
  std::fflush(stdout);
}

}  // namespace cloister::bench
