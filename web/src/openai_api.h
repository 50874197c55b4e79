// The OpenAI-compatible API under /v1/ (docs/API.md), for clients written against OpenAI's:
//
//   GET  /v1/models, /v1/models/{id}   the chat model (or "cloister-extractive") and the
//                                      embedding model
//   POST /v1/chat/completions          an answer from the caller's documents: the last user
//                                      message is the question, earlier turns its history;
//                                      "stream": true for chat.completion.chunk events; the cited
//                                      passages in an extra "sources" field, beside "mode"
//   POST /v1/embeddings                vectors from the embedding model, float or base64
//
// Errors take OpenAI's shape, {"error": {"message", "type", "param", "code"}}, which its clients
// parse. With authentication on, the server has checked the caller first; `caller` limits what
// chat completions may read (the caller's collections).
#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <string>

#include "cloister/app/knowledge_base.h"
#include "cloister/web/server.h"
#include "http_util.h"

namespace cloister::web {

// The model id that answers extractively, listed when no chat model is configured.
inline constexpr char kExtractiveModelId[] = "cloister-extractive";

// "/v1" and everything under "/v1/".
bool IsOpenAiPath(const std::string& path);

// Answers one request under /v1/: the reply to send, or none with *streamed set when it wrote
// the response itself (an event stream). Never throws.
Reply RouteOpenAi(app::KnowledgeBase& kb, const app::Caller& caller, const ServerOptions& options,
                  Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                  const std::string& path, bool* streamed);

}  // namespace cloister::web
