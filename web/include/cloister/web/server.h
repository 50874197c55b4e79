// The HTTP service: JSON API under /api/v1/ (DESIGN.md's HTTP contract).
//
//   web::Server server(kb, {.bind = "127.0.0.1", .port = 8080});
//   CLOISTER_RETURN_IF_ERROR(server.Start());   // returns once listening
//   ... wait for SIGINT/SIGTERM ...
//   server.Stop();                               // finishes in-flight requests, then returns
//
// Every response is JSON, errors included ({"error": {...}} with the status mapped by
// HttpStatusFor); a handler never throws. Thread safety: Start and Stop from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cloister/app/knowledge_base.h"
#include "cloister/core/status.h"

namespace cloister::web {

struct ServerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 8080;        // 0: any free port (see Server::port())
  int threads = 16;            // request worker threads
  int queue = 64;              // connections waiting for a worker before new ones are refused
  int timeout_seconds = 30;    // socket receive/send timeout
  size_t max_body_bytes = 1 << 20;  // larger JSON bodies get 413
  uint64_t max_upload_bytes = 512ull << 20;  // per uploaded file (streamed to disk); larger: 413
};

// The one mapping from Status to HTTP (STYLE.md): invalid_argument 400, failed_precondition 422,
// not_found 404, unavailable 503, data_loss and internal 500.
int HttpStatusFor(StatusCode code);

class Server {
 public:
  Server(app::KnowledgeBase& kb, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // kFailedPrecondition naming the address when it cannot be bound (in use, not permitted).
  Status Start();
  // Stops accepting, lets in-flight requests finish (up to `grace_seconds`), then returns.
  void Stop(int grace_seconds = 10);
  uint16_t port() const;  // the bound port, after Start

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloister::web
