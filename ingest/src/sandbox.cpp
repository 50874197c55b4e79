#include "cloister/ingest/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "wire.h"

extern char** environ;

namespace cloister::ingest {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kDocumentFrame = 'D';
constexpr char kStatusFrame = 'S';
constexpr uint64_t kMaxFrame = 1ull << 31;
constexpr size_t kStderrKept = 4096;

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    Reset();
    fd_ = o.fd_;
    o.fd_ = -1;
    return *this;
  }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Frame(char type, std::string_view payload) {
  std::string out(1, type);
  uint64_t n = payload.size();
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(payload);
  return out;
}

struct Child {
  pid_t pid = -1;
  Fd input;   // our end of the child's stdin
  Fd output;  // the child's stdout: frames
  Fd errors;  // the child's stderr: kept for diagnostics
};

Result<Child> Spawn(const SandboxOptions& sandbox) {
  int in[2], out[2], err[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
      ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    return Internal(std::string("cannot create pipes for the extraction worker: ") + std::strerror(errno));
  }
  Fd child_in(in[1]), child_out(out[1]), child_err(err[1]);
  Child c;
  c.input = Fd(in[0]);
  c.output = Fd(out[0]);
  c.errors = Fd(err[0]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, child_in.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, child_out.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, child_err.get(), 2);
  std::vector<std::string> args = {sandbox.worker.string()};
  args.insert(args.end(), sandbox.worker_args.begin(), sandbox.worker_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = ::posix_spawn(&c.pid, sandbox.worker.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Internal("cannot start the extraction worker " + sandbox.worker.string() + ": " +
                    std::strerror(rc));
  }
  return c;
}

// Reads frames as they arrive, hands documents to `emit`, and stops at the final status, EOF,
// the deadline, or an emit error.
class FrameReader {
 public:
  FrameReader(Child& child, const Emit& emit, Clock::time_point deadline)
      : child_(child), emit_(emit), deadline_(deadline) {}

  // Returns false on timeout. `final_status` is set when the worker sent one.
  bool Run() {
    pollfd fds[2] = {{child_.output.get(), POLLIN, 0}, {child_.errors.get(), POLLIN, 0}};
    bool out_open = true, err_open = true;
    while (out_open && !emit_failed_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
      if (left.count() <= 0) return false;
      fds[0].fd = out_open ? child_.output.get() : -1;
      fds[1].fd = err_open ? child_.errors.get() : -1;
      int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
      if (n < 0 && errno == EINTR) continue;
      if (fds[0].revents) out_open = ReadInto(child_.output.get(), &buffer_) && Parse();
      if (fds[1].revents) err_open = ReadStderr();
    }
    return true;
  }
  const std::optional<Status>& final_status() const { return final_; }
  const Status& emit_error() const { return emit_error_; }
  bool emit_failed() const { return emit_failed_; }
  const std::string& stderr_tail() const { return stderr_; }

 private:
  static bool ReadInto(int fd, std::string* buf) {
    char chunk[65536];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) return false;
    buf->append(chunk, static_cast<size_t>(n));
    return true;
  }

  bool ReadStderr() {
    bool open = ReadInto(child_.errors.get(), &stderr_);
    if (stderr_.size() > kStderrKept) stderr_.erase(0, stderr_.size() - kStderrKept);
    return open;
  }

  // Consumes complete frames; false when the stream is garbled or finished.
  bool Parse() {
    while (buffer_.size() >= 1 + sizeof(uint64_t)) {
      uint64_t len = 0;
      std::memcpy(&len, buffer_.data() + 1, sizeof len);
      if (len > kMaxFrame) return Fail(Internal("extraction worker sent an oversized frame"));
      if (buffer_.size() < 1 + sizeof len + len) return true;
      std::string_view payload(buffer_.data() + 1 + sizeof len, len);
      bool keep_going = Handle(buffer_[0], payload);
      buffer_.erase(0, 1 + sizeof len + len);
      if (!keep_going) return false;
    }
    return true;
  }

  bool Handle(char type, std::string_view payload) {
    if (type == kStatusFrame) {
      final_ = wire::DecodeStatus(payload);
      return false;
    }
    if (type != kDocumentFrame) return Fail(Internal("extraction worker sent an unknown frame"));
    auto doc = wire::DecodeDocument(payload);
    if (!doc.ok()) return Fail(doc.status());
    Status st = emit_(std::move(doc).value());
    if (!st.ok()) {
      emit_failed_ = true;
      emit_error_ = st;
      return false;
    }
    return true;
  }

  bool Fail(Status st) {
    final_ = std::move(st);
    return false;
  }

  Child& child_;
  const Emit& emit_;
  Clock::time_point deadline_;
  std::string buffer_;
  std::string stderr_;
  std::optional<Status> final_;
  bool emit_failed_ = false;
  Status emit_error_;
};

int Reap(pid_t pid, bool kill_first) {
  if (kill_first) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

Status Explain(int wait_status, const std::string& stderr_tail, const SandboxOptions& sandbox) {
  bool oom = stderr_tail.find("bad_alloc") != std::string::npos ||
             stderr_tail.find("memory") != std::string::npos;
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    if (sig == SIGXCPU) {
      return FailedPrecondition("timed out: used its CPU limit of " +
                                std::to_string(sandbox.timeout_seconds) + " s (ingest.timeout_seconds)");
    }
    if (oom) {
      return FailedPrecondition("ran out of memory (limit " + std::to_string(sandbox.memory_bytes >> 20) +
                                " MiB, ingest.memory_mb)");
    }
    return Internal(std::string("the parser crashed (") + ::strsignal(sig) + ") on this file");
  }
  if (oom) {
    return FailedPrecondition("ran out of memory (limit " + std::to_string(sandbox.memory_bytes >> 20) +
                              " MiB, ingest.memory_mb)");
  }
  return Internal("the extraction worker stopped without a result (exit " +
                  std::to_string(WEXITSTATUS(wait_status)) + ")" +
                  (stderr_tail.empty() ? "" : ": " + stderr_tail.substr(0, 300)));
}

}  // namespace

Status ExtractIsolated(const std::filesystem::path& path, const ExtractOptions& options,
                       const SandboxOptions& sandbox, const Emit& emit) {
  CLOISTER_ASSIGN_OR_RETURN(Child child, Spawn(sandbox));
  wire::Request request{std::filesystem::absolute(path).string(), options, sandbox.memory_bytes,
                        sandbox.timeout_seconds};
  // A worker that dies before reading its request shows up below as a crash.
  WriteAll(child.input.get(), wire::EncodeRequest(request));
  child.input.Reset();

  auto deadline = Clock::now() + std::chrono::seconds(sandbox.timeout_seconds);
  FrameReader reader(child, emit, deadline);
  bool in_time = reader.Run();
  bool done = reader.final_status().has_value();
  int wait_status = Reap(child.pid, /*kill_first=*/!in_time || reader.emit_failed() || !done);
  if (!in_time) {
    return FailedPrecondition("timed out after " + std::to_string(sandbox.timeout_seconds) +
                              " s (ingest.timeout_seconds)");
  }
  if (reader.emit_failed()) return reader.emit_error();
  if (done) return *reader.final_status();
  return Explain(wait_status, reader.stderr_tail(), sandbox);
}

int RunExtractWorker() {
  std::string input;
  char chunk[4096];
  for (ssize_t n; (n = ::read(0, chunk, sizeof chunk)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 2;
    input.append(chunk, static_cast<size_t>(n));
  }
  auto request = wire::DecodeRequest(input);
  if (!request.ok()) {
    WriteAll(1, Frame(kStatusFrame, wire::EncodeStatus(request.status())));
    return 2;
  }
  rlimit core{0, 0};
  ::setrlimit(RLIMIT_CORE, &core);
  if (request->memory_bytes > 0) {
    rlimit as{request->memory_bytes, request->memory_bytes};
    ::setrlimit(RLIMIT_AS, &as);
  }
  if (request->cpu_seconds > 0) {
    rlimit cpu{static_cast<rlim_t>(request->cpu_seconds), static_cast<rlim_t>(request->cpu_seconds) + 5};
    ::setrlimit(RLIMIT_CPU, &cpu);
  }
  Status result;
  try {
    result = ExtractFile(request->path, request->options, [](ParsedDocument doc) {
      if (!WriteAll(1, Frame(kDocumentFrame, wire::EncodeDocument(doc)))) {
        return Internal("the parent stopped reading");
      }
      return Status::Ok();
    });
  } catch (const std::bad_alloc&) {
    result = FailedPrecondition("ran out of memory (limit " +
                                std::to_string(request->memory_bytes >> 20) + " MiB, ingest.memory_mb)");
  } catch (const std::exception& e) {
    result = Internal(std::string("parser failed: ") + e.what());
  }
  WriteAll(1, Frame(kStatusFrame, wire::EncodeStatus(result)));
  return 0;
}

}  // namespace cloister::ingest
