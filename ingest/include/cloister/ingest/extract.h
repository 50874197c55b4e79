// Turning a file into documents.
//
//   ExtractOptions options;
//   Status st = ingest::ExtractFile("inbox/report.pdf", options,
//                                   [&](ParsedDocument doc) { return Store(std::move(doc)); });
//
// One file gives one document, except mailboxes (mbox files, Maildir folders), which give one per
// message, streamed through `emit` as they are read so a mailbox of any size never sits in memory
// whole. Every failure is a Status naming the file and saying what is wrong:
//   kInvalidArgument     corrupt or truncated file, unsupported format, invalid encoding
//   kFailedPrecondition  encrypted without a configured password; over a configured limit
//   kInternal            an unexpected library failure
// Parsers of untrusted input can crash or hang whatever we do: run them in a child process
// (sandbox.h) rather than in a process that holds anything else.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/core/status.h"
#include "cloister/ingest/document.h"
#include "cloister/ingest/format.h"

namespace cloister::ingest {

struct ExtractOptions {
  uint64_t max_file_bytes = 512ull << 20;  // larger files fail as too large
  int max_pages = 5000;                    // PDF pages read; beyond it, a warning and partial
  bool ocr = true;                         // OCR PDF pages without a text layer
  std::string ocr_languages = "eng";       // tesseract -l value, e.g. "eng+deu"
  int ocr_dpi = 200;                       // render resolution for OCR
  std::vector<std::string> pdf_passwords;  // tried in order on encrypted PDFs
  int max_depth = 5;                       // nesting of attachments and message/rfc822 parts
  uint64_t max_text_bytes = 64ull << 20;   // extracted text per document; beyond it, truncated
};

// Receives each document as it is extracted. A non-ok Status stops extraction and is returned.
using Emit = std::function<Status(ParsedDocument doc)>;

// Extracts the file (or Maildir folder) at `path`. The format is detected from the content.
Status ExtractFile(const std::filesystem::path& path, const ExtractOptions& options, const Emit& emit);

// Parses one document held in memory (an attachment, a single file). `name` helps detection
// and becomes ParsedDocument::name. `depth` counts enclosing documents (0 for a file).
Result<ParsedDocument> ParseBytes(std::string_view bytes, const std::string& name,
                                  const ExtractOptions& options, int depth);

}  // namespace cloister::ingest
