// Accounts: users, API keys, login sessions and collection grants, stored in the catalog.
//
//   CLOISTER_ASSIGN_OR_RETURN(auto accounts, app::Accounts::Open(config));
//   CLOISTER_RETURN_IF_ERROR(accounts->AddUser("alice", "admin", password_hash).status());
//   auto who = accounts->AuthenticateApiKey(key_hash, now);   // std::nullopt: refused
//
// Secrets arrive already hashed: web/ owns the password KDF (argon2id) and the token hashes, so
// app/ needs no cryptography library. Nothing here ever sees a password or a raw token.
// Names are 1 to 64 characters of letters, digits and . _ @ -; roles are "admin" or "user".
//
// Errors: kInvalidArgument for a malformed name or role, kNotFound for an unknown user, key or
// grant, kFailedPrecondition for a duplicate name; the catalog's own errors (kUnavailable,
// kDataLoss, kInternal) otherwise. Thread safety: every method may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/app/config.h"
#include "cloister/core/status.h"

namespace cloister::app {

struct UserInfo {
  int64_t id = 0;
  std::string name;
  std::string role;  // "admin" | "user"
  bool disabled = false;
  int64_t created_at = 0;
  std::vector<std::string> collections;  // granted collection names
};

struct ApiKeyInfo {
  int64_t id = 0;
  std::string user;
  std::string prefix;  // public: shown to tell keys apart
  int64_t created_at = 0;
  std::optional<int64_t> revoked_at;
  std::optional<int64_t> last_used_at;
};

// Who is calling.
struct Principal {
  int64_t user_id = 0;
  std::string name;
  std::string role;                   // "admin" | "user"
  std::optional<int64_t> api_key_id;  // set when authenticated by an API key
  std::string csrf_token;             // set when authenticated by a session
  bool admin() const { return role == "admin"; }
};

// A user as login needs it: with the stored password hash.
struct Credentials {
  UserInfo user;
  std::string password_hash;
};

class Accounts {
 public:
  // Opens (and migrates) the catalog in config.data_dir. Errors as KnowledgeBase::Open.
  static Result<std::unique_ptr<Accounts>> Open(const Config& config);
  virtual ~Accounts() = default;

  virtual Result<UserInfo> AddUser(std::string_view name, std::string_view role,
                                   std::string_view password_hash) = 0;
  virtual Status DeleteUser(std::string_view name) = 0;
  // Also ends every session of the user.
  virtual Status SetPassword(std::string_view name, std::string_view password_hash) = 0;
  virtual Result<std::vector<UserInfo>> ListUsers() = 0;
  // The user with their password hash, for login; std::nullopt for an unknown name.
  virtual Result<std::optional<Credentials>> FindCredentials(std::string_view name) = 0;

  virtual Result<ApiKeyInfo> AddApiKey(std::string_view user, std::string_view key_hash,
                                       std::string_view prefix) = 0;
  virtual Status RevokeApiKey(int64_t id) = 0;
  virtual Result<std::vector<ApiKeyInfo>> ListApiKeys() = 0;
  // The key's user, when the key exists, is not revoked and its user is not disabled (its last
  // use is recorded); std::nullopt otherwise.
  virtual Result<std::optional<Principal>> AuthenticateApiKey(std::string_view key_hash,
                                                              int64_t now) = 0;

  // A new session for the user, valid until expires_at.
  virtual Status CreateSession(int64_t user_id, std::string_view token_hash,
                               std::string_view csrf_token, int64_t now, int64_t expires_at) = 0;
  // The session's user, when the session exists, has not expired at `now` and its user is not
  // disabled; the session then stays valid until now + idle_seconds (never past
  // max_lifetime_seconds after its creation). std::nullopt otherwise.
  virtual Result<std::optional<Principal>> AuthenticateSession(std::string_view token_hash,
                                                               int64_t now, int64_t idle_seconds,
                                                               int64_t max_lifetime_seconds) = 0;
  virtual Status EndSession(std::string_view token_hash) = 0;

  // Collections and grants (stored only: enforcement comes with permissions).
  // Creates the collection, or moves an existing one's folder.
  virtual Status AddCollection(std::string_view name, std::string_view folder) = 0;
  // kNotFound for an unknown user or collection.
  virtual Status Grant(std::string_view user, std::string_view collection) = 0;
  virtual Status Revoke(std::string_view user, std::string_view collection) = 0;
};

// Whether `bind` is a loopback address (127.0.0.0/8, ::1, localhost): only then may serve run
// without authentication unless Config::insecure_no_auth is set.
bool IsLoopback(std::string_view bind);

// Ok when serve may start with this configuration; kFailedPrecondition explaining how to fix it
// when it is bound beyond loopback without authentication.
Status CheckServeSecurity(const Config& config);

}  // namespace cloister::app
