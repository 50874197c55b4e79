#include "cloister/web/server.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>

#include <chrono>
#include <exception>
#include <functional>
#include <thread>

#include "cloister/core/log.h"
#include "cloister/web/json.h"

namespace cloister::web {
namespace {

using Poco::Net::HTTPRequestHandler;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

struct Reply {
  int status = 200;
  std::string body;
};

Reply ErrorReply(const Status& status, const std::string& hint = "") {
  return {HttpStatusFor(status.code()), ErrorJson(status, hint)};
}

// Routes one request to a reply. Knows every endpoint; a handler never throws.
class Router {
 public:
  explicit Router(app::KnowledgeBase& kb) : kb_(kb) {}

  Reply Route(const std::string& method, const std::string& path) {
    if (path == "/api/v1/health") {
      if (method != "GET" && method != "HEAD") return MethodNotAllowed(method, path);
      return {200, HealthJson()};
    }
    if (path == "/api/v1/status") {
      if (method != "GET" && method != "HEAD") return MethodNotAllowed(method, path);
      auto status = kb_.Status();
      if (!status.ok()) return ErrorReply(status.status());
      return {200, StatusJson(*status)};
    }
    return ErrorReply(NotFound("no endpoint " + method + " " + path),
                      "see docs/API.md for the endpoints");
  }

 private:
  static Reply MethodNotAllowed(const std::string& method, const std::string& path) {
    return {405, ErrorJson(InvalidArgument(method + " is not allowed on " + path))};
  }
  app::KnowledgeBase& kb_;
};

class Handler final : public HTTPRequestHandler {
 public:
  explicit Handler(Router& router) : router_(router) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    auto start = std::chrono::steady_clock::now();
    Reply reply;
    try {
      std::string path = Poco::URI(request.getURI()).getPath();
      reply = router_.Route(request.getMethod(), path);
    } catch (const std::exception& e) {
      reply = ErrorReply(InvalidArgument(std::string("bad request: ") + e.what()));
    }
    Send(request, response, reply);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    log::Debug("http", "request", {{"method", request.getMethod()}, {"uri", request.getURI()},
                                   {"status", std::to_string(reply.status)},
                                   {"ms", std::to_string(ms.count())}});
  }

 private:
  static void Send(HTTPServerRequest& request, HTTPServerResponse& response, const Reply& reply) {
    try {
      response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
      response.setContentType("application/json; charset=utf-8");
      response.set("X-Content-Type-Options", "nosniff");
      response.set("Cache-Control", "no-store");
      response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
      auto& out = response.send();
      if (request.getMethod() != "HEAD") out << reply.body;
    } catch (const std::exception& e) {
      log::Warn("http", "could not send response", {{"error", e.what()}});
    }
  }
  Router& router_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(Router& router) : router_(router) {}
  // Never nullptr: Poco would turn that into a bare 501 without JSON.
  HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Handler(router_);
  }

 private:
  Router& router_;
};

}  // namespace

struct Server::Impl {
  Impl(app::KnowledgeBase& kb, ServerOptions o) : router(kb), options(std::move(o)) {}
  Router router;
  ServerOptions options;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

Server::Server(app::KnowledgeBase& kb, ServerOptions options)
    : impl_(std::make_unique<Impl>(kb, std::move(options))) {}

Server::~Server() { Stop(0); }

Status Server::Start() {
  const auto& o = impl_->options;
  try {
    Poco::Net::SocketAddress address(o.bind, o.port);
    // SO_REUSEADDR for quick restarts, but never SO_REUSEPORT (Poco's default with the
    // address constructor): a second instance on the same port must fail, not share it.
    Poco::Net::ServerSocket socket;
    socket.bind(address, /*reuseAddress=*/true, /*reusePort=*/false);
    socket.listen(o.queue);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(o.threads);
    params->setMaxQueued(o.queue);
    params->setTimeout(Poco::Timespan(o.timeout_seconds, 0));
    params->setKeepAlive(true);
    params->setServerName("cloister");
    impl_->pool = std::make_unique<Poco::ThreadPool>(2, o.threads);
    impl_->http = std::make_unique<Poco::Net::HTTPServer>(new Factory(impl_->router), *impl_->pool,
                                                          socket, params);
    impl_->http->start();
    impl_->port = socket.address().port();
  } catch (const Poco::Exception& e) {
    return FailedPrecondition("cannot listen on " + o.bind + ":" + std::to_string(o.port) + ": " +
                              e.displayText());
  }
  return Status::Ok();
}

void Server::Stop(int grace_seconds) {
  if (!impl_->http) return;
  // No new connections; requests being answered complete, idle keep-alive connections close.
  impl_->http->stopAll(/*abortCurrent=*/false);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_seconds);
  while (impl_->http->currentConnections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  impl_->http->stopAll(/*abortCurrent=*/true);  // whatever outlived the grace period
  impl_->pool->joinAll();
  impl_->http.reset();
  impl_->pool.reset();
}

uint16_t Server::port() const { return impl_->port; }

}  // namespace cloister::web
