// The mail parser (GMime, mail.cpp and mail_body.cpp): one RFC 5322 message held in memory, as
// an .eml file or an attached message/rfc822 part arrives. Seeds: ../shared/corpus/mail.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cloister;
  ingest::ExtractOptions options;
  options.ocr = false;  // a PDF attachment must not start tesseract for every input
  options.max_pages = 20;
  auto doc = ingest::ParseEmail(std::string_view(reinterpret_cast<const char*>(data), size),
                                options, /*depth=*/0);
  if (doc.ok()) fuzz::CheckDocument(*doc);
  return 0;
}
