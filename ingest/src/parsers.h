// The per-format parsers behind extract.h. Private to ingest.
//
// Each parser takes the whole input in memory (attachments arrive that way too), except the
// mailbox streamers, which read their file or folder incrementally and emit one document per
// message. All return Status codes as extract.h documents, with messages that name what is wrong
// (the caller adds the file name). `depth` counts enclosing documents, for nested mail.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "cloister/core/status.h"
#include "cloister/ingest/document.h"
#include "cloister/ingest/extract.h"

namespace cloister::ingest {

// pdf.cpp (poppler-cpp; OCR through the tesseract command for pages without a text layer).
Result<ParsedDocument> ParsePdf(std::string_view bytes, const ExtractOptions& options);

// mail.cpp (GMime): one RFC 5322 message with its readable attachments as children.
Result<ParsedDocument> ParseEmail(std::string_view bytes, const ExtractOptions& options, int depth);
// mbox (mboxo and mboxrd), streamed: each message through ParseEmail, named "<file>#<n>".
Status StreamMbox(const std::filesystem::path& path, const ExtractOptions& options, const Emit& emit);
// Maildir folder (cur/ and new/), each message through ParseEmail.
Status StreamMaildir(const std::filesystem::path& dir, const ExtractOptions& options, const Emit& emit);
// True when `dir` is a Maildir (has cur/, new/ and tmp/).
bool IsMaildir(const std::filesystem::path& dir);

// text.cpp: plain text in any charset (detected), and Markdown (headings kept as headings).
Result<ParsedDocument> ParseText(std::string_view bytes, Format format);
// html.cpp (libxml2's HTML parser): visible text, scripts and styles dropped, headings kept.
Result<ParsedDocument> ParseHtml(std::string_view bytes);
// office.cpp (libarchive + libxml2): DOCX and ODT body text with headings.
Result<ParsedDocument> ParseDocx(std::string_view bytes, const ExtractOptions& options);
Result<ParsedDocument> ParseOdt(std::string_view bytes, const ExtractOptions& options);

// html.cpp: the visible text of an HTML fragment, for HTML-only mail bodies.
std::string HtmlToText(std::string_view html);

}  // namespace cloister::ingest
