#include "http_connection.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Timestamp.h>

#include <sys/socket.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "cloister/core/log.h"
#include "cloister/web/json.h"

namespace cloister::web {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequestImpl;
using Poco::Net::HTTPServerResponseImpl;
using Poco::Net::StreamSocket;
using State = ConnectionTracker::State;
using Clock = std::chrono::steady_clock;

// ---- the tracker --------------------------------------------------------------------------------

ConnectionTracker::Entry::Entry(ConnectionTracker& tracker, const StreamSocket& socket)
    : tracker_(tracker), socket_(socket) {
  std::lock_guard lock(tracker_.mu_);
  tracker_.entries_.push_back(this);
}

ConnectionTracker::Entry::~Entry() {
  std::lock_guard lock(tracker_.mu_);
  tracker_.entries_.remove(this);
  tracker_.changed_.notify_all();
}

bool ConnectionTracker::Entry::Set(State state) {
  std::lock_guard lock(tracker_.mu_);
  if (state == State::kBusy && state_ != State::kBusy) {
    hang_up_ = std::stop_source();
    watch_hang_up_ = false;
  }
  state_ = state;
  if (state == State::kHeaders)
    deadline_ = Clock::now() +
                std::chrono::microseconds(tracker_.limits_.header_timeout.totalMicroseconds());
  return !(state == State::kIdle && tracker_.draining_);
}

bool ConnectionTracker::Entry::timed_out() const {
  std::lock_guard lock(tracker_.mu_);
  return timed_out_;
}

std::stop_token ConnectionTracker::Entry::HangUp() {
  std::lock_guard lock(tracker_.mu_);
  watch_hang_up_ = true;
  return hang_up_.get_token();
}

ConnectionTracker::ConnectionTracker(ConnectionLimits limits)
    : limits_(limits), watchdog_([this] { Watch(); }) {}

ConnectionTracker::~ConnectionTracker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  watchdog_.join();
}

void ConnectionTracker::ShutLocked(Entry& e, bool receive_only) {
  if (e.shut_) return;
  try {
    if (receive_only) {
      e.socket_.shutdownReceive();
    } else {
      e.socket_.shutdown();
      e.shut_ = true;
    }
  } catch (const std::exception&) {  // already closed by the peer: nothing to cut
  }
}

void ConnectionTracker::Drain() {
  std::lock_guard lock(mu_);
  draining_ = true;
  for (Entry* e : entries_) {
    if (e->state_ == State::kIdle) ShutLocked(*e, /*receive_only=*/false);
  }
}

bool ConnectionTracker::draining() const {
  std::lock_guard lock(mu_);
  return draining_;
}

bool ConnectionTracker::WaitUntilClosed(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return changed_.wait_until(lock, deadline, [this] { return entries_.empty(); });
}

void ConnectionTracker::AbortAll() {
  std::lock_guard lock(mu_);
  for (Entry* e : entries_) ShutLocked(*e, /*receive_only=*/false);
}

size_t ConnectionTracker::count() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

namespace {

// Whether the peer of a connection whose request was read has closed or reset it: the socket
// reads as ready and a peek finds no byte (llama-server's test, cpp-httplib's is_socket_alive).
// A byte waiting (a pipelined request) means the client is still there. A client that only shuts
// down its sending side looks the same as one that closed: HTTP clients do not do that while they
// wait for a reply.
bool PeerHungUp(StreamSocket& socket) {
  try {
    if (!socket.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR))
      return false;
    char byte;
    return socket.receiveBytes(&byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
  } catch (const Poco::TimeoutException&) {  // EAGAIN: nothing to read after all
    return false;
  } catch (const std::exception&) {  // reset, or already shut down
    return true;
  }
}

}  // namespace

// Every 100 ms: cuts off the reading side of a connection whose headers are late (its handler
// thread, blocked in a read, sees the end of the stream and answers 408), and tells the handlers
// that asked (Entry::HangUp) that their client has gone. The stops are requested after the lock
// is released: what they run is the handlers' business.
void ConnectionTracker::Watch() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    changed_.wait_for(lock, std::chrono::milliseconds(100));
    auto now = Clock::now();
    std::vector<std::stop_source> hung_up;
    for (Entry* e : entries_) {
      if (e->state_ == State::kBusy && e->watch_hang_up_ && !e->hang_up_.stop_requested() &&
          !e->shut_ && PeerHungUp(e->socket_)) {
        hung_up.push_back(e->hang_up_);
      }
      if (e->state_ != State::kHeaders || e->timed_out_ || now < e->deadline_) continue;
      e->timed_out_ = true;
      ShutLocked(*e, /*receive_only=*/true);
    }
    if (hung_up.empty()) continue;
    lock.unlock();
    for (auto& source : hung_up) source.request_stop();
    lock.lock();
  }
}

// ---- one connection -----------------------------------------------------------------------------

namespace {

// The connection whose request this thread's handler is serving (ClientHangUp).
thread_local ConnectionTracker::Entry* t_serving = nullptr;

class Serving {
 public:
  explicit Serving(ConnectionTracker::Entry& entry) { t_serving = &entry; }
  ~Serving() { t_serving = nullptr; }
  Serving(const Serving&) = delete;
  Serving& operator=(const Serving&) = delete;
};

// Poco's server session, able to wait for the next request without consuming a keep-alive count
// (hasMoreRequests would), so that the first and later waits have limits of their own.
class Session final : public Poco::Net::HTTPServerSession {
 public:
  Session(const StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params)
      : HTTPServerSession(socket, std::move(params)) {}
  bool WaitForRequest(const Poco::Timespan& limit) {
    return buffered() > 0 || socket().poll(limit, Poco::Net::Socket::SELECT_READ);
  }
};

struct Refusal {
  int status;
  std::string message;
};

// A JSON error, then the connection closes: what follows on it can no longer be trusted to be
// the start of a request.
void SendRefusal(Session& session, const Refusal& refusal) {
  try {
    HTTPServerResponseImpl response(session);
    response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
    response.setStatusAndReason(static_cast<HTTPResponse::HTTPStatus>(refusal.status));
    response.setKeepAlive(false);
    response.setDate(Poco::Timestamp());
    response.setContentType("application/json; charset=utf-8");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Cache-Control", "no-store");
    StatusCode code = refusal.status >= 500 ? StatusCode::kInternal : StatusCode::kInvalidArgument;
    std::string body = ErrorJson(Status(code, refusal.message));
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    response.send() << body << std::flush;
  } catch (const std::exception& e) {
    log::Debug("http", "could not send an error response", {{"error", e.what()}});
  }
}

// What a request that Poco could not read gets. Poco reports every problem of a request line or
// header as a MessageException; its text tells a header over the limits from a malformed one (a
// URL over 16384 bytes and a malformed request line share one message: 400).
Refusal Unreadable(const Poco::Exception& e) {
  const std::string text = e.message();
  if (text.find("header fields") != std::string::npos ||
      text.find("Field value too long") != std::string::npos) {
    return {431, "a request header is too large (at most 100 fields of 8192 bytes): " + text};
  }
  if (dynamic_cast<const Poco::Net::MessageException*>(&e))
    return {400, "malformed HTTP request: " + text};
  return {400, "the HTTP request cannot be read: " + e.displayText()};
}

Refusal TimedOut(const ConnectionLimits& limits) {
  return {408, "the request's headers did not arrive within " +
                   std::to_string(limits.header_timeout.totalSeconds()) + " s"};
}

bool DeclaresBody(const HTTPServerRequestImpl& request) {
  return request.getChunkedTransferEncoding() ||
         (request.hasContentLength() && request.getContentLength64() > 0);
}

// After a reply to a request whose body was left unread (refused as too large): stop sending, then
// read and discard for a moment, so that the client, still sending, reads the reply before the
// close resets the connection and drops it.
void Linger(StreamSocket& socket) {
  constexpr auto kLinger = std::chrono::seconds(2);
  constexpr size_t kMaxBytes = 64 << 20;
  try {
    socket.shutdownSend();
    auto deadline = Clock::now() + kLinger;
    char sink[65536];
    for (size_t total = 0; total < kMaxBytes;) {
      auto left =
          std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
      if (left <= 0 || !socket.poll(Poco::Timespan(left), Poco::Net::Socket::SELECT_READ)) break;
      int n = socket.receiveBytes(sink, sizeof sink);
      if (n <= 0) break;
      total += static_cast<size_t>(n);
    }
  } catch (const std::exception&) {  // reset or timed out: closing anyway
  }
}

class Connection final : public Poco::Net::TCPServerConnection {
 public:
  Connection(const StreamSocket& socket, Poco::Net::HTTPRequestHandlerFactory::Ptr factory,
             Poco::Net::HTTPServerParams::Ptr params, ConnectionTracker& tracker)
      : TCPServerConnection(socket),
        factory_(std::move(factory)),
        params_(std::move(params)),
        tracker_(tracker) {}

  void run() override {
    try {
      Session session(socket(), params_);
      // Declared after the session, so unregistered before the session closes the socket.
      ConnectionTracker::Entry entry(tracker_, socket());
      Poco::Timespan wait = tracker_.limits().header_timeout;  // a new client sends at once
      Outcome outcome = Outcome::kClose;
      while (session.WaitForRequest(wait)) {
        entry.Set(State::kHeaders);
        outcome = ServeOne(session, entry);
        if (outcome != Outcome::kKeepAlive || !entry.Set(State::kIdle)) break;
        wait = tracker_.limits().keep_alive;
      }
      if (outcome == Outcome::kCloseLingering) Linger(socket());
    } catch (const std::exception& e) {
      log::Debug("http", "connection ended", {{"error", e.what()}});
    }
  }

 private:
  enum class Outcome { kKeepAlive, kClose, kCloseLingering };

  Outcome ServeOne(Session& session, ConnectionTracker::Entry& entry) {
    HTTPServerResponseImpl response(session);
    std::unique_ptr<HTTPServerRequestImpl> request;
    try {
      request = std::make_unique<HTTPServerRequestImpl>(response, session, params_.get());
    } catch (const Poco::Net::NoMessageException&) {
      return Outcome::kClose;  // closed, or cut off, before a byte of a request
    } catch (const Poco::TimeoutException&) {
      SendRefusal(session, TimedOut(tracker_.limits()));
      return Outcome::kClose;
    } catch (const Poco::Exception& e) {
      SendRefusal(session, entry.timed_out() ? TimedOut(tracker_.limits()) : Unreadable(e));
      return Outcome::kClose;
    }
    // Cut off mid-header, Poco may take what came as a whole request: it is not one.
    if (entry.timed_out()) {
      SendRefusal(session, TimedOut(tracker_.limits()));
      return Outcome::kClose;
    }
    // Poco checks only the version's length, and the reply's status line repeats it.
    if (const std::string& v = request->getVersion(); v != "HTTP/1.0" && v != "HTTP/1.1") {
      SendRefusal(session,
                  {400, "malformed HTTP request: unknown HTTP version (HTTP/1.1 expected)"});
      return Outcome::kClose;
    }
    entry.Set(State::kBusy);
    response.setDate(Poco::Timestamp());
    response.setVersion(request->getVersion());
    response.setKeepAlive(params_->getKeepAlive() && request->getKeepAlive() && !entry.draining());
    try {
      std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(
          factory_->createRequestHandler(*request));
      Serving serving(entry);
      handler->handleRequest(*request, response);
    } catch (const std::exception& e) {  // handlers do not throw; if one does, still JSON
      if (!response.sent())
        SendRefusal(session, {500, std::string("unexpected error: ") + e.what()});
      return Outcome::kClose;
    }
    if (!response.sent()) {
      SendRefusal(session, {500, "the request handler sent no response"});
      return Outcome::kClose;
    }
    if (DeclaresBody(*request) && !request->stream().eof()) return Outcome::kCloseLingering;
    return response.getKeepAlive() && !entry.draining() ? Outcome::kKeepAlive : Outcome::kClose;
  }

  Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
  Poco::Net::HTTPServerParams::Ptr params_;
  ConnectionTracker& tracker_;
};

}  // namespace

std::stop_token ClientHangUp() { return t_serving ? t_serving->HangUp() : std::stop_token(); }

Poco::Net::TCPServerConnection* ConnectionFactory::createConnection(const StreamSocket& socket) {
  return new Connection(socket, factory_, params_, tracker_);
}

}  // namespace cloister::web
