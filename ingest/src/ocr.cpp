#include "ocr.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

extern char** environ;

namespace cloister::ingest {
namespace {

constexpr int kTimeoutSeconds = 120;

struct TempFile {
  std::string path;
  ~TempFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

// Reads the child's stdout until EOF or the deadline. False on timeout.
bool ReadAll(int fd, std::string* out, std::chrono::steady_clock::time_point deadline) {
  char buf[16384];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return true;
    out->append(buf, static_cast<size_t>(r));
  }
}

}  // namespace

Result<std::string> RecognizeImage(const poppler::image& image, const ExtractOptions& options) {
  TempFile png;
  std::string pattern = (std::filesystem::temp_directory_path() / "cloister-ocr-XXXXXX").string();
  int tmp = ::mkstemp(pattern.data());
  if (tmp < 0) return Internal(std::string("cannot create a temporary file: ") + std::strerror(errno));
  ::close(tmp);
  png.path = pattern;
  if (!image.save(png.path, "png", options.ocr_dpi)) return Internal("cannot write the page image");

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Internal("cannot create a pipe for tesseract");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = {"tesseract", png.path, "stdout", "-l", options.ocr_languages,
                                   "--psm", "3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "tesseract", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    return FailedPrecondition("the tesseract command is not installed (Debian package tesseract-ocr)");
  }
  std::string text;
  bool in_time = ReadAll(out[0], &text, std::chrono::steady_clock::now() + std::chrono::seconds(kTimeoutSeconds));
  ::close(out[0]);
  if (!in_time) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!in_time) return Internal("tesseract took longer than " + std::to_string(kTimeoutSeconds) + " s");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return FailedPrecondition("tesseract failed (is the language data for '" + options.ocr_languages +
                              "' installed? Debian packages tesseract-ocr-<lang>)");
  }
  return text;
}

}  // namespace cloister::ingest
