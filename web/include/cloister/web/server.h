// The HTTP service: JSON API under /api/v1/ (DESIGN.md's HTTP contract).
//
//   web::Server server(kb, {.bind = "127.0.0.1", .port = 8080});
//   CLOISTER_RETURN_IF_ERROR(server.Start());   // returns once listening
//   ... wait for SIGINT/SIGTERM ...
//   server.Stop(120);                            // finishes in-flight requests, then returns
//
// GET /metrics (administrators, with auth on) answers in Prometheus's text format.
// Every response is JSON, errors included ({"error": {...}} with the status mapped by
// HttpStatusFor), also for requests too malformed to reach a handler (400; 431 for header
// fields over the limits, at most 100 fields of 8 KiB; 408 for headers slower than
// header_timeout_seconds); a handler never throws. Thread safety: Start and
// Stop from one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cloister/app/knowledge_base.h"
#include "cloister/core/status.h"

namespace cloister::web {

struct ServerOptions {
  std::string bind = "127.0.0.1";
  uint16_t port = 8080;        // 0: any free port (see Server::port())
  int threads = 16;            // request worker threads
  int queue = 64;              // connections waiting for a worker before new ones are refused
  int timeout_seconds = 30;    // socket receive/send timeout (a body or reader stalled this long)
  int header_timeout_seconds = 10;  // a request's line and headers, from its first byte: else 408
                                    // and the connection closes (slow clients cannot hold workers);
                                    // also how long a new connection may stay silent
  int keep_alive_seconds = 10;      // an idle kept-alive connection closes after this
  size_t max_body_bytes = 1 << 20;  // larger JSON bodies get 413
  uint64_t max_upload_bytes = 512ull << 20;  // per uploaded file (streamed to disk); larger: 413
  // Every /api/v1/ and /v1/ route but health and login needs a user: an API key
  // ("Authorization: Bearer KEY") or the session cookie of POST /api/v1/login, whose
  // state-changing requests also carry X-CSRF-Token. Deleting documents needs an admin.
  // Refusals: 401 (no or bad credentials), 403 (CSRF, or not an admin), 429 with Retry-After
  // (failed logins). The accounts are those of the knowledge base's data folder.
  bool auth = false;
  int session_idle_seconds = 12 * 3600;  // a session unused this long ends (at most a week)
  // Per-client limits (a client: the authenticated user, whichever key or session it uses; else
  // the peer's address, IPv4 /32 or IPv6 /64). Over one: 429 with Retry-After and the JSON error
  // code "rate_limited" (under /v1/, OpenAI's shape with "rate_limit_exceeded"). GET
  // /api/v1/health and the UI's files are never limited. Counted in this process's memory: they
  // start afresh at a restart. 0 turns a limit off.
  double client_requests_per_second = 50;  // sustained, a token bucket per client
  double client_burst = 200;               // the bucket's size (at least 1)
  int client_concurrent_answers = 4;       // POST /api/v1/ask and /v1/chat/completions at once
  int client_concurrent_requests = 32;     // requests in progress at once, answers included
  // The audit log (web/audit_log.h): every search, answer, download, upload, deletion and
  // login, as JSON lines. Empty: none. Start fails when it cannot be written.
  std::filesystem::path audit_log;
  uint64_t audit_rotate_bytes = 10ull << 20;
  int audit_keep = 10;
};

// The one mapping from Status to HTTP (STYLE.md): invalid_argument 400, failed_precondition 422,
// not_found 404, unavailable 503, data_loss and internal 500.
int HttpStatusFor(StatusCode code);

// An endpoint the server answers: an OpenAPI path template ("{id}" a document or job number,
// "{model}" a model id) and its methods (GET ones answer HEAD too). docs/openapi.json describes
// each; a test holds the two together.
struct Endpoint {
  std::string path;
  std::vector<std::string> methods;
};
std::vector<Endpoint> Endpoints();

class Server {
 public:
  Server(app::KnowledgeBase& kb, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // kFailedPrecondition naming the address when it cannot be bound (in use, not permitted);
  // with auth, the catalog's errors when its accounts cannot be opened.
  Status Start();
  // Stops accepting (new connections are refused), closes idle kept-alive connections, lets the
  // requests in flight finish, a streamed answer to its end, each connection closing after its
  // reply; those still running after `grace_seconds` are cut off. Returns when all have ended.
  // Idempotent; the destructor calls Stop(0).
  void Stop(int grace_seconds = 10);
  uint16_t port() const;  // the bound port, after Start

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloister::web
