#include "cloister/llm/runtime.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "cloister/core/log.h"
#include "llama.h"

namespace cloister::llm {
namespace {

void RouteLog(ggml_log_level level, const char* text, void* /*user*/) {
  // llama.cpp emits partial lines (continuations) and many info lines per model load.
  static thread_local std::string pending;
  static thread_local ggml_log_level pending_level = GGML_LOG_LEVEL_INFO;
  if (level != GGML_LOG_LEVEL_CONT) pending_level = level;
  pending += text;
  if (pending.empty() || pending.back() != '\n') return;
  pending.pop_back();
  switch (pending_level) {
    case GGML_LOG_LEVEL_ERROR: log::Error("llama.cpp", pending); break;
    case GGML_LOG_LEVEL_WARN: log::Warn("llama.cpp", pending); break;
    default: log::Debug("llama.cpp", pending); break;
  }
  pending.clear();
}

#if defined(GGML_BACKEND_DL) && defined(GGML_BACKEND_DIR)
// Portable builds (cmake/Llama.cmake, CLOISTER_PORTABLE) load llama.cpp's CPU backend as a module
// at run time. Left to itself, ggml would also search the current directory, so anyone able to
// write where an administrator runs `cloister` could have their library loaded (by root, too):
// load only from the executable's directory in a build tree (where the modules are built beside
// it, and an installed package's may be another version), else from the installed directory.
void LoadBackendModules() {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  if (ec || !std::filesystem::exists(dir / "libggml-base.so", ec)) dir = GGML_BACKEND_DIR;
  ggml_backend_load_all_from_path(dir.c_str());
  if (ggml_backend_reg_count() == 0) {
    log::Error("llama.cpp", "no CPU backend could be loaded; models will not load",
               {{"dir", dir.string()}, {"hint", "reinstall the package (libggml-cpu-*.so)"}});
  }
}
#endif

}  // namespace

void InitBackend() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(RouteLog, nullptr);
#if defined(GGML_BACKEND_DL) && defined(GGML_BACKEND_DIR)
    LoadBackendModules();
    if (ggml_backend_reg_count() == 0) {
      // What llama_backend_init does, but for its fallback search of the current directory.
      ggml_time_init();
      ggml_free(ggml_init({0, nullptr, false}));
      return;
    }
#endif
    llama_backend_init();
  });
}

int DefaultThreads() {
  if (const char* env = std::getenv("CLOISTER_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace cloister::llm
