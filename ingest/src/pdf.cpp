// PDF extraction with poppler-cpp; OCR of pages without a text layer through the tesseract
// command (linking libtesseract would pull libcurl into the binary: DESIGN.md's no-egress rule).
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>

#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>

#include "charset.h"
#include "ocr.h"
#include "parsers.h"

namespace cloister::ingest {
namespace {

void IgnorePopplerMessages(const std::string&, void*) {}

void QuietPoppler() {
  static std::once_flag once;
  // Poppler reports every repaired xref and missing glyph on stderr; our warnings say what matters.
  std::call_once(once, [] { poppler::set_debug_error_function(IgnorePopplerMessages, nullptr); });
}

std::string Utf8(const poppler::ustring& s) {
  poppler::byte_array bytes = s.to_utf8();
  std::string out(bytes.begin(), bytes.end());
  return IsValidUtf8(out) ? out : DecodeToUtf8(out, "UTF-8").text;
}

std::string IsoDate(time_t t) {
  if (t <= 0) return "";
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return "";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool IsBlank(const std::string& text) {
  for (unsigned char c : text) {
    if (!std::isspace(c)) return false;
  }
  return true;
}

// Opens the document, trying the configured passwords when it is encrypted.
Result<std::unique_ptr<poppler::document>> Open(std::string_view bytes, const ExtractOptions& options) {
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) return FailedPrecondition("PDF is too large for poppler (over 2 GiB)");
  auto load = [&](const std::string& owner, const std::string& user) {
    return std::unique_ptr<poppler::document>(poppler::document::load_from_raw_data(
        bytes.data(), static_cast<int>(bytes.size()), owner, user));
  };
  std::unique_ptr<poppler::document> doc = load("", "");
  if (!doc) {
    // poppler returns no document both for damage and for a wrong user password.
    for (const auto& pw : options.pdf_passwords) {
      if ((doc = load(pw, pw)) && !doc->is_locked()) return doc;
      if ((doc = load("", pw)) && !doc->is_locked()) return doc;
    }
    bool encrypted = bytes.find("/Encrypt") != std::string_view::npos;
    if (encrypted) {
      return FailedPrecondition(std::string("PDF is encrypted (password protected)") +
                                (options.pdf_passwords.empty() ? "; set ingest.pdf_passwords"
                                                               : "; none of ingest.pdf_passwords opens it"));
    }
    return InvalidArgument("corrupt or truncated PDF: poppler cannot open it");
  }
  if (doc->is_locked()) {
    for (const auto& pw : options.pdf_passwords) {
      if (!doc->unlock(pw, pw) || !doc->is_locked()) break;
    }
    if (doc->is_locked()) {
      return FailedPrecondition("PDF is encrypted (password protected); set ingest.pdf_passwords");
    }
  }
  return doc;
}

void ReadInfo(const poppler::document& pdf, ParsedDocument* doc) {
  doc->title = Utf8(pdf.get_title());
  doc->author = Utf8(pdf.get_author());
  doc->created = IsoDate(pdf.get_creation_date_t());
  doc->modified = IsoDate(pdf.get_modification_date_t());
  auto add = [&](const char* key, const poppler::ustring& value) {
    std::string v = Utf8(value);
    if (!v.empty()) doc->metadata.emplace_back(key, v);
  };
  add("subject", pdf.get_subject());
  add("keywords", pdf.get_keywords());
  add("creator", pdf.get_creator());
  add("producer", pdf.get_producer());
}

// OCR of one rendered page; the text, or a warning in `doc`.
void OcrPage(const poppler::page& page, int number, const ExtractOptions& options, ParsedDocument* doc) {
  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
  renderer.set_image_format(poppler::image::format_gray8);
  poppler::image image = renderer.render_page(&page, options.ocr_dpi, options.ocr_dpi);
  if (!image.is_valid()) {
    doc->warnings.push_back("page " + std::to_string(number) + ": could not be rendered for OCR");
    return;
  }
  auto text = RecognizeImage(image, options);
  if (!text.ok()) {
    doc->warnings.push_back("page " + std::to_string(number) + ": OCR failed: " + text.status().message());
    return;
  }
  if (IsBlank(*text)) return;
  doc->blocks.push_back({std::move(text).value(), number, "", /*ocr=*/true});
}

}  // namespace

Result<ParsedDocument> ParsePdf(std::string_view bytes, const ExtractOptions& options) {
  QuietPoppler();
  CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<poppler::document> pdf, Open(bytes, options));
  ParsedDocument doc;
  doc.format = "pdf";
  ReadInfo(*pdf, &doc);
  doc.page_count = pdf->pages();
  int pages = std::min(doc.page_count, std::max(options.max_pages, 0));
  if (pages < doc.page_count) {
    doc.warnings.push_back("only the first " + std::to_string(pages) + " of " +
                           std::to_string(doc.page_count) + " pages were read (ingest.max_pages)");
  }
  size_t text_bytes = 0;
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (!page) {
      doc.warnings.push_back("page " + std::to_string(i + 1) + ": unreadable");
      continue;
    }
    // pdftotext's reading order: columns are detected and read one after the other.
    std::string text = Utf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout));
    if (IsBlank(text)) {
      if (options.ocr) OcrPage(*page, i + 1, options, &doc);
      continue;
    }
    text_bytes += text.size();
    doc.blocks.push_back({std::move(text), i + 1, "", false});
    if (text_bytes > options.max_text_bytes) {
      doc.warnings.push_back("text beyond " + std::to_string(options.max_text_bytes) +
                             " bytes was not read (page " + std::to_string(i + 1) + " onwards)");
      break;
    }
  }
  if (doc.blocks.empty() && pages > 0) {
    doc.warnings.push_back(options.ocr ? "no text found on any page, not even by OCR"
                                       : "no text found on any page (scanned pages need ingest.ocr)");
  }
  return doc;
}

}  // namespace cloister::ingest
