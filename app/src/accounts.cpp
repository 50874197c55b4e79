// Accounts over the catalog: name and role checks, and authentication decisions on stored hashes.
#include "cloister/app/accounts.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <mutex>

#include "cloister/storage/catalog.h"

namespace cloister::app {
namespace {

using storage::Catalog;

Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return InvalidArgument("a user name has 1 to 64 characters, got " +
                           std::to_string(name.size()));
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '@' &&
        c != '-') {
      return InvalidArgument("user name '" + std::string(name) +
                             "' may hold only letters, digits and . _ @ -");
    }
  }
  return Status::Ok();
}

Result<storage::Role> ParseRoleName(std::string_view role) {
  std::optional<storage::Role> parsed = storage::ParseRole(role);
  if (!parsed) return InvalidArgument("role is admin or user, not '" + std::string(role) + "'");
  return *parsed;
}

Principal PrincipalOf(const storage::User& user) {
  return Principal{user.id, user.name, std::string(storage::RoleName(user.role)), std::nullopt,
                   ""};
}

class CatalogAccounts final : public Accounts {
 public:
  explicit CatalogAccounts(Catalog catalog) : catalog_(std::move(catalog)) {}

  Result<UserInfo> AddUser(std::string_view name, std::string_view role,
                           std::string_view password_hash) override {
    CLOISTER_RETURN_IF_ERROR(CheckName(name));
    CLOISTER_ASSIGN_OR_RETURN(storage::Role r, ParseRoleName(role));
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(int64_t id, catalog_.AddUser(name, r, password_hash));
    CLOISTER_ASSIGN_OR_RETURN(storage::User user, catalog_.GetUserById(id));
    return Info(user);
  }

  Status DeleteUser(std::string_view name) override {
    std::lock_guard lock(mu_);
    return catalog_.DeleteUser(name);
  }

  Status SetPassword(std::string_view name, std::string_view password_hash) override {
    std::lock_guard lock(mu_);
    return catalog_.SetUserPassword(name, password_hash);
  }

  Result<std::vector<UserInfo>> ListUsers() override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::User> users, catalog_.ListUsers());
    std::vector<UserInfo> out;
    for (const auto& u : users) {
      CLOISTER_ASSIGN_OR_RETURN(UserInfo info, Info(u));
      out.push_back(std::move(info));
    }
    return out;
  }

  Result<std::optional<Credentials>> FindCredentials(std::string_view name) override {
    std::lock_guard lock(mu_);
    Result<storage::User> user = catalog_.GetUser(name);
    if (user.status().code() == StatusCode::kNotFound) return std::optional<Credentials>();
    if (!user.ok()) return user.status();
    CLOISTER_ASSIGN_OR_RETURN(UserInfo info, Info(*user));
    return std::optional<Credentials>(Credentials{std::move(info), user->password_hash});
  }

  Result<ApiKeyInfo> AddApiKey(std::string_view user, std::string_view key_hash,
                               std::string_view prefix) override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(storage::User u, catalog_.GetUser(user));
    CLOISTER_ASSIGN_OR_RETURN(int64_t id, catalog_.AddApiKey(u.id, key_hash, prefix));
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> keys, catalog_.ListApiKeys(u.id));
    for (const auto& k : keys) {
      if (k.id == id) return Info(k);
    }
    return Internal("API key " + std::to_string(id) + " vanished after it was added");
  }

  Status RevokeApiKey(int64_t id) override {
    std::lock_guard lock(mu_);
    return catalog_.RevokeApiKey(id, Now());
  }

  Result<std::vector<ApiKeyInfo>> ListApiKeys() override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::ApiKey> keys, catalog_.ListApiKeys());
    std::vector<ApiKeyInfo> out;
    for (const auto& k : keys) out.push_back(Info(k));
    return out;
  }

  Result<std::optional<Principal>> AuthenticateApiKey(std::string_view key_hash,
                                                      int64_t now) override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(std::optional<storage::ApiKey> key, catalog_.FindApiKey(key_hash));
    if (!key || key->revoked_at) return std::optional<Principal>();
    CLOISTER_ASSIGN_OR_RETURN(storage::User user, catalog_.GetUserById(key->user_id));
    if (user.disabled) return std::optional<Principal>();
    // At most one write a minute per key: a busy client must not turn reads into writes.
    if (!key->last_used_at || now - *key->last_used_at >= 60) {
      CLOISTER_RETURN_IF_ERROR(catalog_.TouchApiKey(key->id, now));
    }
    Principal p = PrincipalOf(user);
    p.api_key_id = key->id;
    return std::optional<Principal>(std::move(p));
  }

  Status CreateSession(int64_t user_id, std::string_view token_hash, std::string_view csrf_token,
                       int64_t now, int64_t expires_at) override {
    std::lock_guard lock(mu_);
    // Expired sessions go whenever a new one starts, so the table stays small.
    CLOISTER_RETURN_IF_ERROR(catalog_.DeleteExpiredSessions(now).status());
    return catalog_.AddSession({std::string(token_hash), user_id, std::string(csrf_token), now,
                                expires_at});
  }

  Result<std::optional<Principal>> AuthenticateSession(std::string_view token_hash, int64_t now,
                                                       int64_t idle_seconds,
                                                       int64_t max_lifetime_seconds) override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(std::optional<storage::Session> session,
                              catalog_.FindSession(token_hash));
    if (!session || session->expires_at <= now) return std::optional<Principal>();
    CLOISTER_ASSIGN_OR_RETURN(storage::User user, catalog_.GetUserById(session->user_id));
    if (user.disabled) return std::optional<Principal>();
    int64_t expires = std::min(now + idle_seconds, session->created_at + max_lifetime_seconds);
    // Slides at most once a minute, for the same reason as API keys' last use.
    if (expires - session->expires_at >= 60) {
      CLOISTER_RETURN_IF_ERROR(catalog_.ExtendSession(token_hash, expires));
    }
    Principal p = PrincipalOf(user);
    p.csrf_token = session->csrf_token;
    return std::optional<Principal>(std::move(p));
  }

  Status EndSession(std::string_view token_hash) override {
    std::lock_guard lock(mu_);
    return catalog_.DeleteSession(token_hash);
  }

  Status AddCollection(std::string_view name, std::string_view folder) override {
    std::lock_guard lock(mu_);
    return catalog_.EnsureCollection(name, folder).status();
  }

  Status Grant(std::string_view user, std::string_view collection) override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(storage::User u, catalog_.GetUser(user));
    CLOISTER_ASSIGN_OR_RETURN(int64_t c, CollectionId(collection));
    return catalog_.GrantCollection(u.id, c);
  }

  Status Revoke(std::string_view user, std::string_view collection) override {
    std::lock_guard lock(mu_);
    CLOISTER_ASSIGN_OR_RETURN(storage::User u, catalog_.GetUser(user));
    CLOISTER_ASSIGN_OR_RETURN(int64_t c, CollectionId(collection));
    Status revoked = catalog_.RevokeCollection(u.id, c);
    if (revoked.code() == StatusCode::kNotFound) {
      return NotFound("user '" + std::string(user) + "' has no grant on collection '" +
                      std::string(collection) + "'");
    }
    return revoked;
  }

 private:
  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  Result<int64_t> CollectionId(std::string_view name) {
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> all, catalog_.ListCollections());
    for (const auto& c : all) {
      if (c.name == name) return c.id;
    }
    return NotFound("no collection is called '" + std::string(name) +
                    "'; add it with `cloister collection add`");
  }

  Result<UserInfo> Info(const storage::User& u) {
    UserInfo info{u.id, u.name, std::string(storage::RoleName(u.role)), u.disabled, u.created_at,
                  {}};
    CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> granted, catalog_.UserCollections(u.id));
    CLOISTER_ASSIGN_OR_RETURN(std::vector<storage::Collection> all, catalog_.ListCollections());
    for (const auto& c : all) {
      if (std::find(granted.begin(), granted.end(), c.id) != granted.end()) {
        info.collections.push_back(c.name);
      }
    }
    return info;
  }

  static ApiKeyInfo Info(const storage::ApiKey& k) {
    return ApiKeyInfo{k.id, k.user_name, k.prefix, k.created_at, k.revoked_at, k.last_used_at};
  }

  std::mutex mu_;
  Catalog catalog_;
};

}  // namespace

Result<std::unique_ptr<Accounts>> Accounts::Open(const Config& config) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return FailedPrecondition("cannot create the data folder " + config.data_dir.string() + ": " +
                              ec.message());
  }
  CLOISTER_ASSIGN_OR_RETURN(Catalog catalog, Catalog::Open(config.catalog_path()));
  return std::unique_ptr<Accounts>(std::make_unique<CatalogAccounts>(std::move(catalog)));
}

bool IsLoopback(std::string_view bind) {
  return bind == "localhost" || bind == "::1" || bind == "[::1]" || bind.rfind("127.", 0) == 0;
}

Status CheckServeSecurity(const Config& config) {
  if (config.auth || config.insecure_no_auth || IsLoopback(config.bind)) return Status::Ok();
  return FailedPrecondition(
      "refusing to serve on " + config.bind +
      " without authentication: anyone who can reach it could read every document. Start with "
      "--auth (create a user first: cloister user add NAME --role admin), bind to 127.0.0.1, or, "
      "for a test only, pass --insecure-no-auth");
}

}  // namespace cloister::app
