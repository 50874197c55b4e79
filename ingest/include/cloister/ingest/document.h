// What extraction produces: plain structs, no third-party types (DESIGN.md: ingest returns parsed
// documents and chunks; app stores them).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cloister::ingest {

// A run of text with where it came from. Paginated formats (PDF) give one or more blocks per
// page; others use page 0 ("no page").
struct TextBlock {
  std::string text;     // UTF-8, normalised (NFC, no soft hyphens, tidy whitespace)
  int page = 0;         // 1-based page number, 0 when the format has no pages
  std::string heading;  // the section heading this text sits under, when known
  bool ocr = false;     // recognised from an image of the page, not read from a text layer
};

struct ParsedDocument {
  std::string format;  // "pdf", "email", "text", "markdown", "html", "docx", "odt"
  std::string name;    // file name, attachment name, or "<mailbox>#<n>" for a mailbox message
  std::string title;   // document title or mail subject; may be empty
  std::string author;  // document author or mail sender
  std::string created;   // ISO 8601 (UTC) when known
  std::string modified;  // ISO 8601 (UTC) when known
  int page_count = 0;    // pages in the source (PDF), 0 otherwise
  // Everything else worth keeping, as (key, value) in a stable order. Mail uses from, to, cc,
  // date, subject, message_id, in_reply_to, references; PDF uses producer, creator, keywords.
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<TextBlock> blocks;
  // Problems that did not stop extraction (a page that failed, an attachment skipped). A
  // document with warnings is stored as "partial" with them as its error text.
  std::vector<std::string> warnings;
  // Attachments and embedded messages that could be read, each a document of its own, linked to
  // this one. Depth is limited by ExtractOptions::max_depth.
  std::vector<ParsedDocument> children;

  // The value of `key` in metadata, or "".
  const std::string& Meta(const std::string& key) const;
};

// Sum of text bytes of the document and its children (for limits and progress).
size_t TextBytes(const ParsedDocument& doc);

}  // namespace cloister::ingest
