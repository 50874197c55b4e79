// Generation on an OpenAI-compatible server on the intranet (llama.cpp's llama-server, vLLM,
// Ollama), for administrators who move the chat model off the Cloister machine. Off unless
// configured: it is the only connection Cloister ever opens to another host.
//
//   auto chat = web::OpenRemoteChat({.url = "http://10.1.2.3:8080", .model = "qwen2.5-7b"});
//   auto kb = app::KnowledgeBase::Open(config, *chat);
//
// Requests go to POST {url}/v1/chat/completions with "stream": true; the server-sent events'
// deltas are handed to the callback as they arrive. Token counts for the prompt budget are
// estimated (one token per 3 bytes, which no common tokenizer exceeds on prose), since servers
// differ in how they tokenize; the usage the server reports is what the answer shows.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cloister/app/knowledge_base.h"
#include "cloister/core/status.h"

namespace cloister::web {

struct RemoteChatOptions {
  std::string url;              // http://host:port (no path); https is not built in (see docs)
  std::string model;            // the "model" sent; empty: the first the server lists
  std::string api_key;          // sent as "Authorization: Bearer KEY" when set
  uint32_t context_tokens = 4096;  // the server's context per request
  int timeout_seconds = 300;    // per request, and for each wait on the stream
};

// Checks the URL and asks the server for its models (GET /v1/models): kInvalidArgument for a
// URL that is not http://host[:port], kUnavailable when the server does not answer,
// kFailedPrecondition when it does not serve `model`.
Result<std::shared_ptr<app::ChatBackend>> OpenRemoteChat(const RemoteChatOptions& options);

}  // namespace cloister::web
