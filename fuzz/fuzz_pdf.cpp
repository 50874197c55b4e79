// The PDF extraction function (poppler-cpp, pdf.cpp) in process; in production it runs in the
// sandboxed child (sandbox.h). OCR is off: it would start tesseract for every image-only page.
// Seeds: ../shared/corpus/pdfs (the small ones, see run.sh).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "parsers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cloister;
  ingest::ExtractOptions options;
  options.ocr = false;
  options.max_pages = 20;
  options.pdf_passwords = {"password", "test"};
  auto doc = ingest::ParsePdf(std::string_view(reinterpret_cast<const char*>(data), size), options);
  if (doc.ok()) fuzz::CheckDocument(*doc);
  return 0;
}
