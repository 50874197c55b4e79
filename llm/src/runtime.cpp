#include "cloister/llm/runtime.h"

#include <cstdlib>
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

}  // namespace

void InitBackend() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(RouteLog, nullptr);
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
