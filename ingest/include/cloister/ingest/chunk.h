// Text clean-up and chunking: the last step of extraction before storage.
//
//   std::string clean = ingest::NormalizeText(raw);   // NFC, de-hyphenated, tidy whitespace
//   std::vector<ingest::ChunkText> chunks = ingest::ChunkDocument(doc, {});
//
// Chunks are built from ICU sentence boundaries up to a token budget, overlapping by whole
// sentences, never splitting a word (an over-long sentence is cut at a word boundary) and never
// crossing documents. Each keeps its page range and heading; mail chunks start with a short
// header line (from, date, subject) so a passage read alone is understandable. Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/ingest/document.h"

namespace cloister::ingest {

// Unicode NFC, with Latin ligatures spelled out ("\ufb01" -> "fi"); words broken across lines
// with a hyphen joined ("docu-\nment" -> "document"; "Anglo-\nSaxon" and "COVID-\n19" keep the
// hyphen, as the next line starts with a capital or digit); soft hyphens, zero-width and control
// characters removed; runs of spaces (tabs, no-break and other Unicode spaces) collapsed to one
// space; single line breaks inside a paragraph joined with a space (without one between Chinese,
// Japanese or Thai characters), except before a list item ("- x", "2. x"); paragraph breaks
// (blank lines, form feeds) kept as one blank line; no leading or trailing whitespace. Invalid
// UTF-8 becomes U+FFFD. Linear in the input; normalising twice changes nothing.
std::string NormalizeText(std::string_view text);

struct ChunkOptions {
  int target_tokens = 300;  // budget per chunk; values below 1 act as 1
  double overlap = 0.15;    // fraction of the budget repeated from the previous chunk, in [0, 0.5]
  // Counts tokens as the embedding model would; when empty, an estimate (about 4 bytes per token
  // for alphabetic scripts, one per character for CJK and Thai) is used. Called once per
  // sentence (and per word of an over-long sentence); a chunk's count is the sum of its parts.
  std::function<int(std::string_view)> count_tokens;
};

struct ChunkText {
  std::string text;
  int page_start = 0;  // 0 when the document has no pages
  int page_end = 0;
  std::string heading;
  bool ocr = false;  // some of the text came from OCR
};

// Chunks of `doc` itself (not its children), in reading order. Empty for a document without text.
// Consecutive blocks under the same heading and on the same page are chunked together; a new
// heading or a new page always starts a new chunk, so every passage cites exactly one page. A sentence longer than the budget is cut between
// words; a single "word" longer than the budget (a base64 blob) between characters. Mail chunks
// start with MailHeaderLine(doc) + "\n", which counts against the budget unless it would take
// more than half of it. Linear in the text size; the ICU iterators are made once per call.
std::vector<ChunkText> ChunkDocument(const ParsedDocument& doc, const ChunkOptions& options);

// The header line mail chunks start with: "From: Ann <a@x.org> | Date: ... | Subject: ...", from
// metadata from/date/subject (else author/created/title), each on one line and cut to 200 bytes;
// missing fields are left out. Empty for documents other than mail.
std::string MailHeaderLine(const ParsedDocument& doc);

// The sentences of `text` by ICU's sentence boundaries (root locale), trimmed of white space,
// blank ones dropped: views into `text`. The whole text as one sentence if ICU fails.
std::vector<std::string_view> SplitSentences(std::string_view text);

}  // namespace cloister::ingest
