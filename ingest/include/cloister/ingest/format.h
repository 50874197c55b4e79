// What kind of document a file is, decided by its content first and its name second.
//
//   std::string head = first 4 KiB of the file;
//   ingest::Format f = ingest::DetectFormat("report.bin", head);   // kPdf if head starts %PDF-
//
// Content wins over the extension: a PDF named .txt is a PDF, a text file named .pdf is not.
#pragma once

#include <filesystem>
#include <string_view>

namespace cloister::ingest {

enum class Format { kUnknown, kPdf, kEmail, kMbox, kHtml, kMarkdown, kText, kDocx, kOdt, kZip };

// "pdf", "email", "mbox", "html", "markdown", "text", "docx", "odt", "zip", "unknown".
std::string_view FormatName(Format format);

// `head` is the start of the file (4 KiB is plenty). Zip containers are told apart by the names
// of their first entries (`word/`, `mimetype` + opendocument.text); a bare zip is kZip.
Format DetectFormat(const std::filesystem::path& path, std::string_view head);

}  // namespace cloister::ingest
