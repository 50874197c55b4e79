// A compact binary encoding of extraction requests and results, for the pipe between the
// sandboxed worker and its parent. Private to ingest. Decoding checks every length against the
// bytes present: a garbled stream is an error, never an over-read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cloister/core/status.h"
#include "cloister/ingest/document.h"
#include "cloister/ingest/extract.h"

namespace cloister::ingest::wire {

struct Request {
  std::string path;
  ExtractOptions options;
  uint64_t memory_bytes = 0;
};

std::string EncodeRequest(const Request& request);
Result<Request> DecodeRequest(std::string_view bytes);

std::string EncodeDocument(const ParsedDocument& doc);
Result<ParsedDocument> DecodeDocument(std::string_view bytes);

std::string EncodeStatus(const Status& status);
// The worker's final status, or an error saying the status itself arrived garbled.
Status DecodeStatus(std::string_view bytes);

}  // namespace cloister::ingest::wire
