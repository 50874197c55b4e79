// OCR of a rendered page through the `tesseract` command (Debian tesseract-ocr). Private to
// ingest. The command runs as a child process with a time limit; no shell is involved.
#pragma once

#include <poppler-image.h>

#include <string>

#include "cloister/core/status.h"
#include "cloister/ingest/extract.h"

namespace cloister::ingest {

// The recognised text (UTF-8) in options.ocr_languages. kFailedPrecondition when tesseract is
// missing or its language data is not installed (the message names the package); kInternal when
// it fails or exceeds its 120 s limit.
Result<std::string> RecognizeImage(const poppler::image& image, const ExtractOptions& options);

}  // namespace cloister::ingest
