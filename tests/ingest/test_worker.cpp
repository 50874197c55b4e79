// The extraction worker the sandbox tests spawn: the real worker, plus misbehaving modes that
// stand in for a parser that crashes, hangs or runs out of memory on a hostile file.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cloister/ingest/sandbox.h"

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "crash") {
    volatile int* p = nullptr;
    return *p;
  }
  if (mode == "hang") {
    for (;;) ::pause();
  }
  if (mode == "oom") {
    rlimit as{256ull << 20, 256ull << 20};
    ::setrlimit(RLIMIT_AS, &as);
    std::vector<std::string> hog;
    for (;;) hog.emplace_back(64 << 20, 'x');  // std::bad_alloc escapes: terminate, SIGABRT
  }
  if (mode == "garbage") {
    const char junk[] = "Z\x05\x00\x00\x00\x00\x00\x00\x00hello";
    (void)!::write(1, junk, sizeof junk - 1);
    return 0;
  }
  return cloister::ingest::RunExtractWorker();
}
