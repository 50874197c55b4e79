// Catalog: users, API keys, sessions and collection grants. Only hashes of secrets get here.
#include <array>
#include <string>
#include <utility>

#include "catalog_rows.h"
#include "cloister/storage/catalog.h"

namespace cloister::storage {
namespace {

constexpr std::array<std::pair<Role, std::string_view>, 2> kRoleNames = {{
    {Role::kAdmin, "admin"},
    {Role::kUser, "user"},
}};

constexpr std::string_view kUserColumns = "id, name, role, password_hash, created_at, disabled";
constexpr std::string_view kApiKeyColumns =
    "k.id, k.user_id, u.name, k.prefix, k.created_at, k.revoked_at, k.last_used_at";
constexpr std::string_view kSessionColumns =
    "token_hash, user_id, csrf_token, created_at, expires_at";

Result<User> ReadUser(const Statement& row) {
  std::optional<Role> role = ParseRole(row.ColumnText(2));
  if (!role) return DataLoss("users hold unknown role '" + row.ColumnText(2) + "'");
  return User{row.ColumnInt64(0), row.ColumnText(1),     *role,
              row.ColumnText(3),  row.ColumnInt64(4), row.ColumnInt64(5) != 0};
}

ApiKey ReadApiKey(const Statement& row) {
  return ApiKey{row.ColumnInt64(0),          row.ColumnInt64(1),
                row.ColumnText(2),           row.ColumnText(3),
                row.ColumnInt64(4),          row.ColumnOptionalInt64(5),
                row.ColumnOptionalInt64(6)};
}

Session ReadSession(const Statement& row) {
  return Session{row.ColumnText(0), row.ColumnInt64(1), row.ColumnText(2), row.ColumnInt64(3),
                 row.ColumnInt64(4)};
}

Status NoSuchUser(std::string_view name) {
  return NotFound("no user is called '" + std::string(name) + "'");
}

// Runs `sql` with ?1 = `value` and ?2 = `name`, kNotFound when it changes no user.
template <typename T>
Status UpdateUser(const Database& db, std::string_view sql, const T& value, std::string_view name) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, value));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, name));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return db.Changes() == 0 ? NoSuchUser(name) : Status::Ok();
}

}  // namespace

std::string_view RoleName(Role role) {
  for (const auto& [value, name] : kRoleNames) {
    if (value == role) return name;
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view text) {
  for (const auto& [value, name] : kRoleNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

Result<int64_t> Catalog::AddUser(std::string_view name, Role role,
                                 std::string_view password_hash) {
  if (name.empty()) return InvalidArgument("user name is empty; give the user a name");
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("INSERT INTO users (name, role, password_hash, created_at) "
                                "VALUES (?1, ?2, ?3, ?4)"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, name));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, RoleName(role)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, password_hash));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, internal::NowSeconds()));
  Status inserted = internal::RunToEnd(st);
  if (inserted.code() == StatusCode::kFailedPrecondition) {
    return FailedPrecondition("a user called '" + std::string(name) + "' already exists");
  }
  CLOISTER_RETURN_IF_ERROR(inserted);
  return db_.LastInsertRowId();
}

Result<User> Catalog::GetUser(std::string_view name) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT " + std::string(kUserColumns) +
                                                      " FROM users WHERE name = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, name));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NoSuchUser(name);
  return ReadUser(st);
}

Result<User> Catalog::GetUserById(int64_t id) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT " + std::string(kUserColumns) +
                                                      " FROM users WHERE id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, id));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no user has id " + std::to_string(id));
  return ReadUser(st);
}

Result<std::vector<User>> Catalog::ListUsers() const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT " + std::string(kUserColumns) +
                                                      " FROM users ORDER BY name"));
  return internal::ReadAll<User>(st, ReadUser);
}

Status Catalog::SetUserPassword(std::string_view name, std::string_view password_hash) {
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  CLOISTER_RETURN_IF_ERROR(UpdateUser(
      db_, "UPDATE users SET password_hash = ?1 WHERE name = ?2", password_hash, name));
  // A changed password must not leave a stolen session alive.
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, name));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return tx.Commit();
}

Status Catalog::SetUserDisabled(std::string_view name, bool disabled) {
  return UpdateUser(db_, "UPDATE users SET disabled = ?1 WHERE name = ?2", disabled, name);
}

Status Catalog::SetUserRole(std::string_view name, Role role) {
  return UpdateUser(db_, "UPDATE users SET role = ?1 WHERE name = ?2", RoleName(role), name);
}

Status Catalog::DeleteUser(std::string_view name) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("DELETE FROM users WHERE name = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, name));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return db_.Changes() == 0 ? NoSuchUser(name) : Status::Ok();
}

Result<int64_t> Catalog::AddApiKey(int64_t user_id, std::string_view key_hash,
                                   std::string_view prefix) {
  if (key_hash.empty()) return InvalidArgument("API key hash is empty");
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("INSERT INTO api_keys (user_id, key_hash, prefix, created_at) "
                                "VALUES (?1, ?2, ?3, ?4)"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, user_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, key_hash));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, prefix));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st).WithContext(
      "adding an API key for user " + std::to_string(user_id) + " (does the user exist?)"));
  return db_.LastInsertRowId();
}

Result<std::optional<ApiKey>> Catalog::FindApiKey(std::string_view key_hash) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("SELECT " + std::string(kApiKeyColumns) +
                                " FROM api_keys k JOIN users u ON u.id = k.user_id "
                                "WHERE k.key_hash = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, key_hash));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<ApiKey>();
  return std::optional<ApiKey>(ReadApiKey(st));
}

Result<std::vector<ApiKey>> Catalog::ListApiKeys(std::optional<int64_t> user_id) const {
  std::string sql = "SELECT " + std::string(kApiKeyColumns) +
                    " FROM api_keys k JOIN users u ON u.id = k.user_id";
  if (user_id) sql += " WHERE k.user_id = ?1";
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql + " ORDER BY k.id"));
  if (user_id) CLOISTER_RETURN_IF_ERROR(st.Bind(1, *user_id));
  return internal::ReadAll<ApiKey>(st, ReadApiKey);
}

Status Catalog::RevokeApiKey(int64_t id, int64_t now) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?1) WHERE id = ?2"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, now));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  if (db_.Changes() == 0) return NotFound("no API key has id " + std::to_string(id));
  return Status::Ok();
}

Status Catalog::TouchApiKey(int64_t id, int64_t now) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, now));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  if (db_.Changes() == 0) return NotFound("no API key has id " + std::to_string(id));
  return Status::Ok();
}

Status Catalog::AddSession(const Session& session) {
  if (session.token_hash.empty()) return InvalidArgument("session token hash is empty");
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("INSERT INTO sessions (" + std::string(kSessionColumns) +
                                ") VALUES (?1, ?2, ?3, ?4, ?5)"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, session.token_hash));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, session.user_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, session.csrf_token));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, session.created_at));
  CLOISTER_RETURN_IF_ERROR(st.Bind(5, session.expires_at));
  return internal::RunToEnd(st).WithContext("adding a session for user " +
                                            std::to_string(session.user_id));
}

Result<std::optional<Session>> Catalog::FindSession(std::string_view token_hash) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("SELECT " + std::string(kSessionColumns) +
                                        " FROM sessions WHERE token_hash = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, token_hash));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<Session>();
  return std::optional<Session>(ReadSession(st));
}

Status Catalog::ExtendSession(std::string_view token_hash, int64_t expires_at) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("UPDATE sessions SET expires_at = ?1 WHERE token_hash = ?2"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, expires_at));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, token_hash));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return db_.Changes() == 0 ? NotFound("no such session") : Status::Ok();
}

Status Catalog::DeleteSession(std::string_view token_hash) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("DELETE FROM sessions WHERE token_hash = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, token_hash));
  return internal::RunToEnd(st);
}

Result<int> Catalog::DeleteExpiredSessions(int64_t now) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("DELETE FROM sessions WHERE expires_at < ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, now));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return db_.Changes();
}

Status Catalog::GrantCollection(int64_t user_id, int64_t collection_id) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("INSERT INTO user_collections (user_id, collection_id) "
                                "VALUES (?1, ?2) ON CONFLICT DO NOTHING"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, user_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, collection_id));
  return internal::RunToEnd(st).WithContext("granting collection " +
                                            std::to_string(collection_id) + " to user " +
                                            std::to_string(user_id) + " (do both exist?)");
}

Status Catalog::RevokeCollection(int64_t user_id, int64_t collection_id) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("DELETE FROM user_collections WHERE user_id = ?1 AND collection_id = ?2"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, user_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, collection_id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  if (db_.Changes() == 0) {
    return NotFound("user " + std::to_string(user_id) + " has no grant on collection " +
                    std::to_string(collection_id));
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> Catalog::UserCollections(int64_t user_id) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("SELECT collection_id FROM user_collections WHERE user_id = ?1 "
                                "ORDER BY collection_id"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, user_id));
  return internal::ReadAll<int64_t>(st, [](const Statement& row) { return row.ColumnInt64(0); });
}

}  // namespace cloister::storage
