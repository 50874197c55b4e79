#include "cloister/ingest/format.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace cloister::ingest {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// RFC 5322 header names that open a message (case-insensitive, at the start of a line).
bool LooksLikeMail(std::string_view head) {
  static constexpr std::array<std::string_view, 17> kHeaders = {
      "received:", "return-path:", "from:", "message-id:", "mime-version:", "delivered-to:",
      "subject:", "to:", "cc:", "date:", "reply-to:", "sender:", "in-reply-to:", "references:",
      "content-type:", "content-transfer-encoding:", "x-"};
  std::string lower = Lower(std::string(head.substr(0, 2048)));
  int hits = 0;
  size_t line = 0;
  while (line < lower.size() && hits < 2) {
    std::string_view l(lower.data() + line, lower.size() - line);
    for (auto h : kHeaders) {
      if (StartsWith(l, h)) ++hits;
    }
    size_t nl = lower.find('\n', line);
    if (nl == std::string::npos || nl == line || (nl == line + 1 && lower[line] == '\r')) break;
    line = nl + 1;
  }
  return hits >= 2;
}

Format DetectZip(std::string_view head) {
  if (head.find("word/") != std::string_view::npos) return Format::kDocx;
  if (head.find("mimetypeapplication/vnd.oasis.opendocument.text") != std::string_view::npos) {
    return Format::kOdt;
  }
  return Format::kZip;
}

Format FromExtension(const std::string& ext) {
  if (ext == ".md" || ext == ".markdown") return Format::kMarkdown;
  if (ext == ".html" || ext == ".htm" || ext == ".xhtml") return Format::kHtml;
  if (ext == ".eml") return Format::kEmail;
  if (ext == ".mbox" || ext == ".mbx") return Format::kMbox;
  return Format::kText;
}

bool IsMostlyText(std::string_view head) {
  if (head.empty()) return true;
  size_t control = 0;
  for (unsigned char c : head) {
    if (c == 0) return false;
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') ++control;
  }
  return control * 100 < head.size();
}

}  // namespace

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kPdf: return "pdf";
    case Format::kEmail: return "email";
    case Format::kMbox: return "mbox";
    case Format::kHtml: return "html";
    case Format::kMarkdown: return "markdown";
    case Format::kText: return "text";
    case Format::kDocx: return "docx";
    case Format::kOdt: return "odt";
    case Format::kZip: return "zip";
    case Format::kUnknown: return "unknown";
  }
  return "unknown";
}

// 0 when `head` does not look like UTF-16; 1 for little-endian, 2 for big-endian. With a
// byte-order mark, or without one when most code units are ASCII (every other byte zero).
int Utf16Endianness(std::string_view head) {
  if (StartsWith(head, "\xff\xfe")) return 1;
  if (StartsWith(head, "\xfe\xff")) return 2;
  size_t n = std::min<size_t>(head.size(), 512) & ~static_cast<size_t>(1);
  if (n < 16) return 0;
  size_t zero_even = 0, zero_odd = 0;
  for (size_t i = 0; i < n; i += 2) {
    zero_even += head[i] == 0;
    zero_odd += head[i + 1] == 0;
  }
  if (zero_odd * 10 >= n / 2 * 9 && zero_even == 0) return 1;
  if (zero_even * 10 >= n / 2 * 9 && zero_odd == 0) return 2;
  return 0;
}

// UTF-16 text: keep the low (ASCII-range) bytes so the text checks below can read it. Only the
// sniffing sees this; decoding is the extractor's job.
std::string Utf16Ascii(std::string_view head, bool le) {
  size_t skip = StartsWith(head, "\xff\xfe") || StartsWith(head, "\xfe\xff") ? 2 : 0;
  std::string out;
  for (size_t i = skip; i + 1 < head.size(); i += 2) {
    char lo = le ? head[i] : head[i + 1];
    char hi = le ? head[i + 1] : head[i];
    out += hi == 0 ? lo : '?';
  }
  return out;
}

Format DetectFormat(const std::filesystem::path& path, std::string_view head) {
  if (StartsWith(head, "\xef\xbb\xbf")) head.remove_prefix(3);  // a UTF-8 byte-order mark
  // PDF readers accept the header anywhere in the first KiB.
  if (head.substr(0, 1024).find("%PDF-") != std::string_view::npos) return Format::kPdf;
  if (StartsWith(head, "PK\x03\x04")) return DetectZip(head);
  if (int endian = Utf16Endianness(head)) return DetectFormat(path, Utf16Ascii(head, endian == 1));
  if (StartsWith(head, "From ") && head.find('\n') != std::string_view::npos) return Format::kMbox;
  if (!IsMostlyText(head)) return Format::kUnknown;
  std::string ext = Lower(path.extension().string());
  std::string lower = Lower(std::string(head.substr(0, 512)));
  size_t start = lower.find_first_not_of(" \t\r\n\xef\xbb\xbf");
  std::string_view body = start == std::string::npos ? "" : std::string_view(lower).substr(start);
  if (StartsWith(body, "<!doctype html") || StartsWith(body, "<html")) return Format::kHtml;
  if (LooksLikeMail(head)) return Format::kEmail;
  return FromExtension(ext);
}

}  // namespace cloister::ingest
