// The mbox splitter (mail_mbox.cpp): GMime's mbox parser, the mboxrd unescaping, and the joining
// of headerless pieces to the message before them. StreamMbox reads a file, so the input is put
// in an in-memory file (memfd) and read through /proc/self/fd. Seeds: ../shared/corpus/mail.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_check.h"
#include "parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cloister;
  static int fd = memfd_create("mbox", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
    std::perror("memfd");
    std::abort();
  }
  ingest::ExtractOptions options;
  options.ocr = false;
  options.max_pages = 20;
  int emitted = 0;
  Status status = ingest::StreamMbox("/proc/self/fd/" + std::to_string(fd), options,
                                     [&](ingest::ParsedDocument doc) {
                                       fuzz::CheckDocument(doc);
                                       ++emitted;
                                       return Status::Ok();
                                     });
  fuzz::Require(status.ok() || emitted == 0 || status.code() != StatusCode::kInvalidArgument,
                "a mailbox that gave messages was also called not a mailbox", status.message());
  return 0;
}
