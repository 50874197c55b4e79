// Private: who sent a request (API key or session cookie with its CSRF token), logins with
// throttling, and the JSON refusals. Used by server.cpp when ServerOptions::auth is on.
#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>

#include "cloister/app/accounts.h"
#include "http_util.h"

namespace cloister::web {

inline constexpr char kSessionCookie[] = "cloister_session";
inline constexpr char kCsrfHeader[] = "X-CSRF-Token";

// Failed logins per key (a client address, a user name): after kFreeFailures in a row, each
// further attempt waits 2, 4, 8 ... seconds (at most 15 minutes) after the last failure.
class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kFreeFailures = 5;

  // Seconds until `key` may try again; 0 when it may now.
  int64_t WaitSeconds(const std::string& key, Clock::time_point now);
  void Failed(const std::string& key, Clock::time_point now);
  void Succeeded(const std::string& key);

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point locked_until;
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

// A request let through (principal set) or refused (the reply to send).
struct AuthResult {
  std::optional<app::Principal> principal;
  Reply refusal;
  std::string retry_after;  // for a 429
};

class AuthGate {
 public:
  AuthGate(std::unique_ptr<app::Accounts> accounts, int idle_seconds);

  // The caller of a protected route: "Authorization: Bearer <API key>", or the session cookie
  // (then a state-changing method needs the session's X-CSRF-Token). `openai` shapes refusals
  // as OpenAI's clients expect them.
  AuthResult Authenticate(const Poco::Net::HTTPServerRequest& request, bool openai);

  // POST /api/v1/login: on success the reply carries {user, role, csrf_token} and *cookie the
  // Set-Cookie value.
  AuthResult Login(const std::string& name, const std::string& password,
                   const std::string& client, bool secure, std::string* cookie);
  // Ends the request's session, if any; returns the Set-Cookie value that clears the cookie.
  std::string Logout(const Poco::Net::HTTPServerRequest& request);

  static Reply Refusal(int status, const std::string& code, const std::string& message,
                       bool openai = false);

 private:
  static std::optional<std::string> SessionToken(const Poco::Net::HTTPServerRequest& request);
  static int64_t Now();

  std::unique_ptr<app::Accounts> accounts_;
  int idle_seconds_;
  LoginThrottle throttle_;
  std::string dummy_hash_;  // verified when the user does not exist, so timing tells nothing
  // argon2id takes 64 MiB per verification: a flood of logins must not take the memory.
  std::counting_semaphore<2> hashing_{2};
};

}  // namespace cloister::web
