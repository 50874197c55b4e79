// Process-wide llama.cpp start-up, shared by every module that runs a model.
//
//   cloister::llm::InitBackend();   // idempotent, thread-safe; call before loading any model
//
// llama.cpp's own log lines are routed into cloister::log: warnings and errors always, the rest
// only at debug level, so a user's terminal shows what matters and nothing else.
#pragma once

namespace cloister::llm {

void InitBackend();

// Worker threads for model evaluation: every core, or CLOISTER_THREADS when set (>= 1).
int DefaultThreads();

}  // namespace cloister::llm
