// The list of schema migrations, oldest first. Append only: a released migration never changes,
// because databases in the field have already run it.
#pragma once

#include <span>
#include <string_view>

namespace cloister::storage::internal {

struct Migration {
  int version;            // the user_version after this migration
  std::string_view name;  // for logs and error messages
  std::string_view sql;   // a script run inside one transaction
};

// Versions 1..kSchemaVersion, in order, with no gaps.
std::span<const Migration> Migrations();

}  // namespace cloister::storage::internal
