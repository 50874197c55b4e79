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
constexpr char kRequestFrame = 'R';
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
  // Nothing else of ours goes to the child: a server's listening socket and its clients'
  // connections (Poco's sockets are not close-on-exec) would otherwise live on in a
  // long-lived extraction worker, which keeps connections the server closed half-open.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
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

struct ExtractionWorker::Impl {
  SandboxOptions sandbox;
  std::optional<Child> child;
  int files = 0;     // extracted by the current child
  int started = 0;

  Status EnsureChild() {
    if (child) return Status::Ok();
    CLOISTER_ASSIGN_OR_RETURN(Child c, Spawn(sandbox));
    child = std::move(c);
    files = 0;
    ++started;
    return Status::Ok();
  }

  // Ends the current child: politely (its stdin closes, it exits) or with SIGKILL.
  int Retire(bool kill) {
    if (!child) return 0;
    child->input.Reset();
    int status = Reap(child->pid, kill);
    child.reset();
    return status;
  }
};

ExtractionWorker::ExtractionWorker(SandboxOptions sandbox) : impl_(std::make_unique<Impl>()) {
  impl_->sandbox = std::move(sandbox);
}

ExtractionWorker::~ExtractionWorker() { impl_->Retire(/*kill=*/false); }

int ExtractionWorker::children_started() const { return impl_->started; }

Status ExtractionWorker::Extract(const std::filesystem::path& path, const ExtractOptions& options,
                                 const Emit& emit) {
  Impl& w = *impl_;
  wire::Request request{std::filesystem::absolute(path).string(), options, w.sandbox.memory_bytes};
  std::string frame = Frame(kRequestFrame, wire::EncodeRequest(request));
  CLOISTER_RETURN_IF_ERROR(w.EnsureChild());
  if (!WriteAll(w.child->input.get(), frame)) {
    w.Retire(/*kill=*/true);  // died since the last file: one fresh attempt
    CLOISTER_RETURN_IF_ERROR(w.EnsureChild());
    WriteAll(w.child->input.get(), frame);  // a failure here shows up below as a crash
  }
  auto deadline = Clock::now() + std::chrono::seconds(w.sandbox.timeout_seconds);
  FrameReader reader(*w.child, emit, deadline);
  bool in_time = reader.Run();
  bool done = reader.final_status().has_value();
  if (in_time && done && !reader.emit_failed()) {
    const Status& st = *reader.final_status();
    bool tainted = st.message().find("out of memory") != std::string::npos;
    if (tainted || ++w.files >= w.sandbox.recycle_after) w.Retire(/*kill=*/tainted);
    return st;
  }
  int wait_status = w.Retire(/*kill=*/true);
  if (!in_time) {
    return FailedPrecondition("timed out after " + std::to_string(w.sandbox.timeout_seconds) +
                              " s (ingest.timeout_seconds)");
  }
  if (reader.emit_failed()) return reader.emit_error();
  if (done) return *reader.final_status();
  return Explain(wait_status, reader.stderr_tail(), w.sandbox);
}

Status ExtractIsolated(const std::filesystem::path& path, const ExtractOptions& options,
                       const SandboxOptions& sandbox, const Emit& emit) {
  ExtractionWorker worker(sandbox);
  return worker.Extract(path, options, emit);
}

namespace {

// Reads one frame from `fd`; false at end of input or on a malformed frame.
bool ReadFrame(int fd, char* type, std::string* payload) {
  auto read_exact = [fd](char* p, size_t n) {
    while (n > 0) {
      ssize_t r = ::read(fd, p, n);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  };
  char header[1 + sizeof(uint64_t)];
  if (!read_exact(header, sizeof header)) return false;
  uint64_t len = 0;
  std::memcpy(&len, header + 1, sizeof len);
  if (len > kMaxFrame) return false;
  *type = header[0];
  payload->resize(len);
  return read_exact(payload->data(), len);
}

void ApplyLimits(const wire::Request& request) {
  rlimit core{0, 0};
  ::setrlimit(RLIMIT_CORE, &core);
  if (request.memory_bytes > 0) {
    rlimit as{request.memory_bytes, request.memory_bytes};
    ::setrlimit(RLIMIT_AS, &as);
  }
}

// Extracts one request; false when the process must end (it ran out of memory: its heap may be
// inconsistent).
bool ServeRequest(const wire::Request& request) {
  Status result;
  bool healthy = true;
  try {
    result = ExtractFile(request.path, request.options, [](ParsedDocument doc) {
      if (!WriteAll(1, Frame(kDocumentFrame, wire::EncodeDocument(doc)))) {
        return Internal("the parent stopped reading");
      }
      return Status::Ok();
    });
  } catch (const std::bad_alloc&) {
    healthy = false;
    result = FailedPrecondition("ran out of memory (limit " + std::to_string(request.memory_bytes >> 20) +
                                " MiB, ingest.memory_mb)");
  } catch (const std::exception& e) {
    result = Internal(std::string("parser failed: ") + e.what());
  }
  return WriteAll(1, Frame(kStatusFrame, wire::EncodeStatus(result))) && healthy;
}

}  // namespace

int RunExtractWorker() {
  char type = 0;
  std::string payload;
  bool first = true;
  while (ReadFrame(0, &type, &payload)) {
    auto request = type == kRequestFrame ? wire::DecodeRequest(payload)
                                         : Result<wire::Request>(Internal("unknown request frame"));
    if (!request.ok()) {
      WriteAll(1, Frame(kStatusFrame, wire::EncodeStatus(request.status())));
      return 2;
    }
    if (first) ApplyLimits(*request);
    first = false;
    if (!ServeRequest(*request)) return 3;
  }
  return 0;
}

}  // namespace cloister::ingest
