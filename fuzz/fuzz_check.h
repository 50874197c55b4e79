// What every parser target checks of what the parser gave back, beyond "did not crash": the
// contract of document.h (text is valid UTF-8), and that the chunker takes any parsed document.
// A broken promise aborts with the field named, which libFuzzer reports as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "charset.h"
#include "cloister/ingest/chunk.h"
#include "cloister/ingest/document.h"

namespace cloister::fuzz {

inline void Require(bool ok, const char* what, std::string_view value) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s: \"%.*s\"\n", what,
               static_cast<int>(value.size() > 200 ? 200 : value.size()), value.data());
  std::abort();
}

inline void RequireUtf8(std::string_view text, const char* what) {
  Require(ingest::IsValidUtf8(text), what, text);
}

// Checks `doc` and its children, and chunks each of them.
inline void CheckDocument(const ingest::ParsedDocument& doc, int depth = 0) {
  Require(depth <= 64, "children nested deeper than 64", doc.name);
  for (const std::string* field : {&doc.format, &doc.name, &doc.title, &doc.author, &doc.created,
                                   &doc.modified}) {
    RequireUtf8(*field, "document field is not UTF-8");
  }
  for (const auto& [key, value] : doc.metadata) RequireUtf8(value, "metadata value is not UTF-8");
  for (const ingest::TextBlock& block : doc.blocks) {
    RequireUtf8(block.text, "block text is not UTF-8");
    RequireUtf8(block.heading, "block heading is not UTF-8");
  }
  for (const std::string& warning : doc.warnings) RequireUtf8(warning, "warning is not UTF-8");
  ingest::ChunkOptions options;
  options.target_tokens = 64;
  for (const ingest::ChunkText& chunk : ingest::ChunkDocument(doc, options)) {
    RequireUtf8(chunk.text, "chunk text is not UTF-8");
    Require(!chunk.text.empty(), "empty chunk", doc.name);
    Require(chunk.page_start <= chunk.page_end, "chunk pages out of order", chunk.text);
  }
  for (const ingest::ParsedDocument& child : doc.children) CheckDocument(child, depth + 1);
}

}  // namespace cloister::fuzz
