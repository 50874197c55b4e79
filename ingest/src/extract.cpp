#include "cloister/ingest/extract.h"

#include <fstream>
#include <system_error>

#include "cloister/core/files.h"
#include "parsers.h"

namespace cloister::ingest {
namespace fs = std::filesystem;
namespace {

Result<std::string> ReadLimited(const fs::path& path, uint64_t max_bytes) {
  std::error_code ec;
  uint64_t size = fs::file_size(path, ec);
  if (ec) return NotFound("cannot read " + path.string() + ": " + ec.message());
  if (size > max_bytes) {
    return FailedPrecondition("file is too large: " + std::to_string(size) + " bytes, the limit is " +
                              std::to_string(max_bytes) + " (ingest.max_file_bytes)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path.string());
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

}  // namespace

Result<ParsedDocument> ParseBytes(std::string_view bytes, const std::string& name,
                                  const ExtractOptions& options, int depth) {
  if (depth > options.max_depth) {
    return FailedPrecondition("nested deeper than " + std::to_string(options.max_depth) +
                              " levels (ingest.max_depth)");
  }
  Format format = DetectFormat(name, bytes.substr(0, 4096));
  Result<ParsedDocument> doc = InvalidArgument("unsupported format");
  switch (format) {
    case Format::kPdf: doc = ParsePdf(bytes, options); break;
    case Format::kEmail: doc = ParseEmail(bytes, options, depth); break;
    case Format::kText:
    case Format::kMarkdown: doc = ParseText(bytes, format); break;
    case Format::kHtml: doc = ParseHtml(bytes); break;
    case Format::kDocx: doc = ParseDocx(bytes, options); break;
    case Format::kOdt: doc = ParseOdt(bytes, options); break;
    case Format::kMbox:
      return InvalidArgument("a mailbox inside a document is not supported; ingest the mbox file itself");
    case Format::kZip:
    case Format::kUnknown:
      return InvalidArgument("unsupported format (" + std::string(FormatName(format)) +
                             "): Cloister reads PDF, mail (.eml, mbox, Maildir), text, Markdown, "
                             "HTML, DOCX and ODT");
  }
  if (doc.ok() && doc->name.empty()) doc->name = name;
  return doc;
}

Status ExtractFile(const fs::path& path, const ExtractOptions& options, const Emit& emit) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (IsMaildir(path)) return StreamMaildir(path, options, emit);
    return InvalidArgument(path.string() + " is a folder, not a Maildir (ingest its files instead)");
  }
  if (!fs::exists(path, ec)) return NotFound("no such file: " + path.string());
  CLOISTER_ASSIGN_OR_RETURN(std::string head, ReadFileHead(path, 4096));
  if (DetectFormat(path, head) == Format::kMbox) return StreamMbox(path, options, emit);
  CLOISTER_ASSIGN_OR_RETURN(std::string bytes, ReadLimited(path, options.max_file_bytes));
  CLOISTER_ASSIGN_OR_RETURN(ParsedDocument doc,
                            ParseBytes(bytes, path.filename().string(), options, /*depth=*/0));
  return emit(std::move(doc));
}

}  // namespace cloister::ingest
