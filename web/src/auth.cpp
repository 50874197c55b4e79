#include "auth.h"

#include <Poco/Net/NameValueCollection.h>
#include <sodium.h>

#include <algorithm>

#include "cloister/core/log.h"
#include "cloister/web/auth.h"
#include "json_util.h"
#include "openai_internal.h"

namespace cloister::web {
namespace {

constexpr int64_t kMaxSessionSeconds = 7 * 24 * 3600;  // a session ends after a week, used or not
constexpr int64_t kMaxLockSeconds = 15 * 60;

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

std::string Hex(const unsigned char* bytes, size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

std::string Base64Url(const unsigned char* bytes, size_t n) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(n, kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes, n, kVariant);
  out.resize(out.find('\0'));
  return out;
}

bool SafeEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool StateChanging(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

}  // namespace

// ---- secrets (cloister/web/auth.h) --------------------------------------------------------------

Result<std::string> HashPassword(std::string_view password) {
  if (password.size() < kMinPasswordLength) {
    return InvalidArgument("a password needs at least " + std::to_string(kMinPasswordLength) +
                           " characters");
  }
  if (password.size() > 4096) return InvalidArgument("a password has at most 4096 bytes");
  if (!SodiumReady()) return Internal("libsodium could not be initialised");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Unavailable("hashing a password needs 64 MiB of memory that could not be had");
  }
  return std::string(out);
}

bool VerifyPassword(const std::string& hash, std::string_view password) {
  if (!SodiumReady() || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

bool PasswordNeedsRehash(const std::string& hash) {
  return crypto_pwhash_str_needs_rehash(hash.c_str(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
}

std::string RandomToken() {
  SodiumReady();
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  return Base64Url(bytes, sizeof bytes);
}

std::string HashToken(std::string_view token) {
  SodiumReady();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(token.data()), token.size());
  return Hex(digest, sizeof digest);
}

Result<NewApiKey> MakeApiKey() {
  if (!SodiumReady()) return Internal("libsodium could not be initialised");
  unsigned char prefix[4];
  randombytes_buf(prefix, sizeof prefix);
  NewApiKey key;
  key.prefix = Hex(prefix, sizeof prefix);
  key.key = "ck_" + key.prefix + "_" + RandomToken();
  key.hash = HashToken(key.key);
  return key;
}

// ---- throttling ---------------------------------------------------------------------------------

int64_t LoginThrottle::WaitSeconds(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.locked_until <= now) return 0;
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.locked_until - now);
  return std::max<int64_t>(1, left.count());
}

void LoginThrottle::Failed(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  // Keys of long-unlocked entries go when the table grows, so guessing names cannot fill memory.
  if (entries_.size() > 100000) {
    std::erase_if(entries_, [&](const auto& e) {
      return e.second.locked_until + std::chrono::seconds(kMaxLockSeconds) < now;
    });
  }
  Entry& e = entries_[key];
  ++e.failures;
  if (e.failures >= kFreeFailures) {
    int shift = std::min(e.failures - kFreeFailures + 1, 10);
    int64_t seconds = std::min<int64_t>(int64_t{1} << shift, kMaxLockSeconds);
    e.locked_until = now + std::chrono::seconds(seconds);
  }
}

void LoginThrottle::Succeeded(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

// ---- the gate -----------------------------------------------------------------------------------

AuthGate::AuthGate(std::unique_ptr<app::Accounts> accounts, int idle_seconds)
    : accounts_(std::move(accounts)), idle_seconds_(idle_seconds) {
  Result<std::string> dummy = HashPassword(RandomToken());
  if (dummy.ok()) dummy_hash_ = *dummy;
}

int64_t AuthGate::Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Reply AuthGate::Refusal(int status, const std::string& code, const std::string& message,
                        bool openai) {
  if (openai) return openai::ErrorReply({status, message, "", code});
  auto error = NewObject();
  error->set("code", code);
  error->set("message", message);
  auto o = NewObject();
  o->set("error", error);
  return {status, Stringify(o)};
}

std::optional<std::string> AuthGate::SessionToken(const Poco::Net::HTTPServerRequest& request) {
  Poco::Net::NameValueCollection cookies;
  request.getCookies(cookies);
  if (!cookies.has(kSessionCookie)) return std::nullopt;
  return cookies.get(kSessionCookie);
}

AuthResult AuthGate::Authenticate(const Poco::Net::HTTPServerRequest& request, bool openai) {
  AuthResult r;
  std::string authorization = request.get("Authorization", "");
  if (!authorization.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.rfind(kBearer, 0) != 0) {
      r.refusal = Refusal(401, "unauthenticated", "send an API key as 'Authorization: Bearer KEY'",
                          openai);
      return r;
    }
    auto who = accounts_->AuthenticateApiKey(HashToken(authorization.substr(kBearer.size())), Now());
    if (!who.ok()) {
      r.refusal = Refusal(503, "unavailable", who.status().message(), openai);
    } else if (!*who) {
      r.refusal = Refusal(401, openai ? "invalid_api_key" : "unauthenticated",
                          "the API key is unknown or revoked", openai);
    } else {
      r.principal = std::move(**who);
    }
    return r;
  }
  std::optional<std::string> token = SessionToken(request);
  if (!token) {
    r.refusal = Refusal(401, "unauthenticated",
                        "log in (POST /api/v1/login) or send 'Authorization: Bearer KEY'", openai);
    return r;
  }
  auto who = accounts_->AuthenticateSession(HashToken(*token), Now(), idle_seconds_,
                                            kMaxSessionSeconds);
  if (!who.ok()) {
    r.refusal = Refusal(503, "unavailable", who.status().message(), openai);
    return r;
  }
  if (!*who) {
    r.refusal = Refusal(401, "unauthenticated", "the session has ended; log in again", openai);
    return r;
  }
  // A cross-site form or script can make the browser send the cookie, but cannot read the token
  // the login returned: SameSite=Strict is the first wall, this the second.
  if (StateChanging(request.getMethod()) &&
      !SafeEquals(request.get(kCsrfHeader, ""), (*who)->csrf_token)) {
    r.refusal = Refusal(403, "csrf", std::string("a request with the session cookie needs the ") +
                                         kCsrfHeader + " header that login returned", openai);
    return r;
  }
  r.principal = std::move(**who);
  return r;
}

AuthResult AuthGate::Login(const std::string& name, const std::string& password,
                           const std::string& client, bool secure, std::string* cookie) {
  AuthResult r;
  auto now = LoginThrottle::Clock::now();
  std::string by_client = "client:" + client, by_user = "user:" + name;
  int64_t wait = std::max(throttle_.WaitSeconds(by_client, now), throttle_.WaitSeconds(by_user, now));
  if (wait > 0) {
    r.retry_after = std::to_string(wait);
    r.refusal = Refusal(429, "too_many_requests",
                        "too many failed logins; try again in " + r.retry_after + " s");
    return r;
  }
  auto found = accounts_->FindCredentials(name);
  if (!found.ok()) {
    r.refusal = Refusal(503, "unavailable", found.status().message());
    return r;
  }
  const app::Credentials* user = found->has_value() ? &**found : nullptr;
  bool usable = user && !user->user.disabled && !user->password_hash.empty();
  bool ok;
  {
    hashing_.acquire();
    // An unknown user costs the same verification as a known one.
    ok = VerifyPassword(usable ? user->password_hash : dummy_hash_, password) && usable;
    hashing_.release();
  }
  if (!ok) {
    throttle_.Failed(by_client, now);
    throttle_.Failed(by_user, now);
    log::Warn("auth", "login failed", {{"user", name}, {"client", client}});
    r.refusal = Refusal(401, "unauthenticated", "wrong user name or password");
    return r;
  }
  throttle_.Succeeded(by_client);
  throttle_.Succeeded(by_user);
  // A hash made with weaker limits than today's is replaced while the password is at hand
  // (before the session exists: a new hash ends the user's sessions).
  if (PasswordNeedsRehash(user->password_hash)) {
    Result<std::string> stronger = HashPassword(password);
    if (stronger.ok()) {
      Status saved = accounts_->SetPassword(name, *stronger);
      if (!saved.ok()) log::Warn("auth", "could not upgrade a password hash", {{"user", name}});
    }
  }
  std::string token = RandomToken(), csrf = RandomToken();
  int64_t t = Now();
  Status created = accounts_->CreateSession(user->user.id, HashToken(token), csrf, t,
                                            t + idle_seconds_);
  if (!created.ok()) {
    r.refusal = Refusal(503, "unavailable", created.message());
    return r;
  }
  // Secure only over TLS: Cloister speaks plain HTTP itself (a TLS proxy in front should add it).
  *cookie = std::string(kSessionCookie) + "=" + token + "; Path=/; Max-Age=" +
            std::to_string(kMaxSessionSeconds) + "; HttpOnly; SameSite=Strict" +
            (secure ? "; Secure" : "");
  app::Principal p{user->user.id, user->user.name, user->user.role, std::nullopt, csrf};
  r.principal = p;
  auto o = NewObject();
  o->set("user", p.name);
  o->set("role", p.role);
  o->set("csrf_token", csrf);
  r.refusal = {200, Stringify(o)};
  log::Info("auth", "login", {{"user", name}, {"client", client}});
  return r;
}

std::string AuthGate::Logout(const Poco::Net::HTTPServerRequest& request) {
  if (std::optional<std::string> token = SessionToken(request)) {
    Status ended = accounts_->EndSession(HashToken(*token));
    if (!ended.ok()) log::Warn("auth", "could not end a session", {{"error", ended.message()}});
  }
  return std::string(kSessionCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict";
}

}  // namespace cloister::web
