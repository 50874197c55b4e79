// The secrets of authentication: password hashes, API keys and session tokens (docs/security.md).
//
//   CLOISTER_ASSIGN_OR_RETURN(std::string hash, web::HashPassword(password));
//   accounts.AddUser("alice", "admin", hash);
//   CLOISTER_ASSIGN_OR_RETURN(web::NewApiKey key, web::MakeApiKey());
//   accounts.AddApiKey("alice", key.hash, key.prefix);   // show key.key once, store only hash
//
// Passwords: argon2id (libsodium's crypto_pwhash_str, interactive limits: 64 MiB, 2 passes).
// API keys: "ck_<8 hex prefix>_<32 random bytes, base64url>", stored as the SHA-256 (hex) of the
// whole key. Session tokens: 32 random bytes, base64url, stored likewise. Thread safe.
#pragma once

#include <string>
#include <string_view>

#include "cloister/core/status.h"

namespace cloister::web {

// The shortest password HashPassword accepts.
inline constexpr size_t kMinPasswordLength = 8;

// An argon2id hash string (salt and parameters inside it). kInvalidArgument for a password shorter
// than kMinPasswordLength or longer than 4096 bytes; kUnavailable when the 64 MiB it needs cannot
// be had.
Result<std::string> HashPassword(std::string_view password);
// Whether `password` matches `hash` (false for a malformed hash).
bool VerifyPassword(const std::string& hash, std::string_view password);
// Whether `hash` was made with weaker limits than today's (rehash at the next login).
bool PasswordNeedsRehash(const std::string& hash);

struct NewApiKey {
  std::string key;     // shown once to the user, never stored
  std::string prefix;  // public part, for listing
  std::string hash;    // what the catalog keeps
};
Result<NewApiKey> MakeApiKey();

// 32 random bytes as base64url without padding (43 characters).
std::string RandomToken();
// The SHA-256 of `token`, lowercase hex: how API keys and session tokens are stored.
std::string HashToken(std::string_view token);

}  // namespace cloister::web
