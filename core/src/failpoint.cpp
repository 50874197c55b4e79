#include "cloister/core/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace cloister {

void Failpoint(std::string_view name) {
  static const std::string armed = [] {
    const char* v = std::getenv("CLOISTER_FAILPOINT");
    return std::string(v ? v : "");
  }();
  if (armed.empty() || armed != name) return;
  static constexpr char kMessage[] = "cloister: failpoint reached, killing the process\n";
  (void)!::write(2, kMessage, sizeof kMessage - 1);
  ::kill(::getpid(), SIGKILL);
}

}  // namespace cloister
