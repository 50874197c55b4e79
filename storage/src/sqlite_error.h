// Turns a SQLite result code into a Status (the table is in cloister/storage/sqlite.h).
#pragma once

#include <sqlite3.h>

#include <string_view>

#include "cloister/core/status.h"

namespace cloister::storage::internal {

// The Status for a failed call on `db` that returned `rc`. `sql` is the statement that failed
// (shortened in the message), `db` may be null when the connection could not be allocated.
Status SqliteStatus(sqlite3* db, int rc, std::string_view sql);

// The code alone, for callers that build their own message.
StatusCode SqliteStatusCode(int rc);

}  // namespace cloister::storage::internal
