// The text normaliser and the chunker (normalize.cpp, chunk.cpp), and the text and Markdown
// parsers in front of them (charset detection, headings). Checks the promises of chunk.h:
// normalised text is valid UTF-8 without surrounding white space, and normalising it again
// changes nothing; NormalizeLine stays within its byte limit; chunks are non-empty UTF-8 with
// their pages in order, whatever the budget and overlap.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "cloister/ingest/chunk.h"
#include "fuzz_check.h"
#include "normalize.h"
#include "parsers.h"

namespace {

using namespace cloister;

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

void CheckNormalized(const std::string& raw) {
  std::string once = ingest::NormalizeText(raw);
  fuzz::RequireUtf8(once, "NormalizeText gave invalid UTF-8");
  fuzz::Require(once.empty() || (!IsSpace(once.front()) && !IsSpace(once.back())),
                "NormalizeText left white space at an end", once);
  fuzz::Require(ingest::NormalizeText(once) == once, "NormalizeText is not idempotent", once);
}

void CheckLine(const std::string& raw, size_t max_bytes) {
  std::string line = ingest::NormalizeLine(raw, max_bytes);
  fuzz::RequireUtf8(line, "NormalizeLine gave invalid UTF-8");
  fuzz::Require(line.size() <= max_bytes, "NormalizeLine went over its limit", line);
  fuzz::Require(line.find('\n') == std::string::npos, "NormalizeLine kept a line break", line);
}

// A document of a few blocks, cut from the input, chunked with options from the input.
void CheckChunks(FuzzedDataProvider& in) {
  ingest::ParsedDocument doc;
  doc.format = in.ConsumeBool() ? "email" : "text";
  doc.title = ingest::NormalizeLine(in.ConsumeRandomLengthString(300));
  if (doc.format == "email") doc.metadata.emplace_back("from", doc.title);
  int page = 0;
  for (int blocks = in.ConsumeIntegralInRange(1, 6); blocks > 0 && in.remaining_bytes(); --blocks) {
    ingest::TextBlock block;
    page += in.ConsumeIntegralInRange(0, 2);
    block.page = page;
    block.heading = in.ConsumeBool() ? ingest::NormalizeLine(in.ConsumeRandomLengthString(64)) : "";
    block.text = ingest::NormalizeText(in.ConsumeRandomLengthString(4096));
    doc.blocks.push_back(std::move(block));
  }
  ingest::ChunkOptions options;
  options.target_tokens = in.ConsumeIntegralInRange(-2, 400);
  options.overlap = in.ConsumeFloatingPointInRange(-0.2, 0.7);
  for (const ingest::ChunkText& chunk : ingest::ChunkDocument(doc, options)) {
    fuzz::RequireUtf8(chunk.text, "chunk text is not UTF-8");
    fuzz::Require(!chunk.text.empty(), "empty chunk", doc.title);
    fuzz::Require(chunk.page_start <= chunk.page_end, "chunk pages out of order", chunk.text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string raw(reinterpret_cast<const char*>(data), size);
  CheckNormalized(raw);
  FuzzedDataProvider in(data, size);
  CheckLine(raw, in.ConsumeIntegralInRange<size_t>(0, 400));
  for (std::string_view sentence : ingest::SplitSentences(raw)) {
    fuzz::Require(!sentence.empty(), "SplitSentences gave an empty sentence", raw);
  }
  for (auto format : {ingest::Format::kText, ingest::Format::kMarkdown}) {
    auto doc = ingest::ParseText(raw, format);
    if (doc.ok()) fuzz::CheckDocument(*doc);
  }
  CheckChunks(in);
  return 0;
}
