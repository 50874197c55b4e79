// Failpoints: named places where a test can make the process die as if killed, to show that a
// crash there loses nothing (tests/app/crash_test.cpp).
//
//   CLOISTER_FAILPOINT=index_before_rename cloister ingest docs/   # dies there with SIGKILL
//
// A failpoint whose name is in the environment variable CLOISTER_FAILPOINT (one name) kills the
// process with SIGKILL when reached; otherwise it costs one comparison. Never set in production.
#pragma once

#include <string_view>

namespace cloister {

void Failpoint(std::string_view name);

}  // namespace cloister
