// Private to web/: the server's HTTP connections, in place of Poco's HTTPServerConnection, for
// what that one cannot do:
//   - every error is JSON, those found before a request handler runs included (a malformed
//     request line or header: 400, header fields over Poco's limits: 431, a request that cannot be
//     parsed at all), where Poco answers an empty 400 or 500 or drops the connection;
//   - a request's line and headers must arrive within a deadline once its first byte has (408),
//     so slow clients cannot hold the workers (Poco's only timeout is per read);
//   - a connection closed with part of its request body unread lingers, reading and discarding
//     for a moment, so a client still sending sees the reply (413) rather than a reset;
//   - a graceful stop closes idle kept-alive connections at once and lets each request in flight
//     finish, with a deadline, where Poco's stopAll(false) waits for them without one.
#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Timespan.h>

#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <stop_token>
#include <thread>

namespace cloister::web {

struct ConnectionLimits {
  Poco::Timespan header_timeout = Poco::Timespan(10, 0);  // first byte to the end of the headers
  Poco::Timespan keep_alive = Poco::Timespan(10, 0);      // idle between two requests
};

// The live connections of one server and what each is doing, so that a stop can tell idle ones
// from busy ones, and a watchdog can cut off headers that arrive too slowly. Thread-safe.
class ConnectionTracker {
 public:
  enum class State { kWaiting, kIdle, kHeaders, kBusy };
  // One connection, registered for as long as it lives (it must be destroyed before its socket
  // is closed, so that no other thread shuts down a descriptor number already reused).
  class Entry {
   public:
    Entry(ConnectionTracker& tracker, const Poco::Net::StreamSocket& socket);
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    // kWaiting before the first request (that one is in flight as soon as the client connected),
    // kIdle between requests, kHeaders with a deadline, kBusy while a handler runs. False when
    // the state is kIdle and the server is draining: the connection is to close instead.
    bool Set(State state);
    bool timed_out() const;
    bool draining() const { return tracker_.draining(); }
    // Stop is requested on the token when the client hangs up (closes or resets the connection)
    // while the current request is served; from this call on the watchdog looks (every 100 ms).
    std::stop_token HangUp();

   private:
    friend class ConnectionTracker;
    ConnectionTracker& tracker_;
    Poco::Net::StreamSocket socket_;
    State state_ = State::kWaiting;
    std::chrono::steady_clock::time_point deadline_;
    bool timed_out_ = false;
    bool shut_ = false;
    std::stop_source hang_up_;  // a new one for each request
    bool watch_hang_up_ = false;
  };

  explicit ConnectionTracker(ConnectionLimits limits);
  ~ConnectionTracker();  // stops the watchdog
  ConnectionTracker(const ConnectionTracker&) = delete;
  ConnectionTracker& operator=(const ConnectionTracker&) = delete;

  const ConnectionLimits& limits() const { return limits_; }
  // From now on no connection serves another request after its current one; idle ones are
  // closed now.
  void Drain();
  bool draining() const;
  // Waits until every connection has closed or `deadline` passes; true when all closed.
  bool WaitUntilClosed(std::chrono::steady_clock::time_point deadline);
  // Shuts down every connection's socket: requests still running fail to write and end.
  void AbortAll();
  size_t count() const;

 private:
  void Watch();
  void ShutLocked(Entry& e, bool receive_only);

  const ConnectionLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::list<Entry*> entries_;
  bool draining_ = false;
  bool stopping_ = false;
  std::thread watchdog_;
};

// On a request handler's thread: a token on which stop is requested when the client of the
// request being handled hangs up (ConnectionTracker::Entry::HangUp), so that work done for it
// alone, an answer above all, stops and frees what it holds. Elsewhere, a token never stopped.
std::stop_token ClientHangUp();

// Creates the connections of a Poco TCPServer that serve HTTP with `factory`'s handlers.
class ConnectionFactory final : public Poco::Net::TCPServerConnectionFactory {
 public:
  ConnectionFactory(Poco::Net::HTTPRequestHandlerFactory::Ptr factory,
                    Poco::Net::HTTPServerParams::Ptr params, ConnectionTracker& tracker)
      : factory_(std::move(factory)), params_(std::move(params)), tracker_(tracker) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override;

 private:
  Poco::Net::HTTPRequestHandlerFactory::Ptr factory_;
  Poco::Net::HTTPServerParams::Ptr params_;
  ConnectionTracker& tracker_;
};

}  // namespace cloister::web
