// PDF extraction with poppler-cpp. Page text comes from poppler's positioned words, put in reading
// order by pdf_layout (poppler's own orders either interleave columns or follow the content
// stream). Pages without a text layer are rendered and read by the tesseract command (ocr.h):
// linking libtesseract would pull libcurl into the binary, against DESIGN.md's no-egress rule.
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-image.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>

#include "normalize.h"
#include "ocr.h"
#include "parsers.h"
#include "pdf_layout.h"
#include "pdf_text.h"

namespace cloister::ingest {
namespace {

// A 2160-point poster page at 200 dpi would be 36 megapixels; larger renders are scaled down.
constexpr double kMaxOcrPixels = 36e6;
constexpr double kContentCheckDpi = 20;
constexpr size_t kMaxPopplerMessages = 50;

// Poppler reports problems through one process-wide callback, called on the thread that parses;
// each Open collects its own thread's messages so concurrent parses never mix them.
thread_local std::vector<std::string>* t_messages = nullptr;

void CollectMessage(const std::string& message, void*) {
  if (t_messages != nullptr && t_messages->size() < kMaxPopplerMessages) {
    t_messages->push_back(message);
  }
}

class PopplerMessages {
 public:
  PopplerMessages() : previous_(t_messages) {
    static std::once_flag once;
    // Without a callback poppler prints every repaired xref and odd font on stderr.
    std::call_once(once, [] { poppler::set_debug_error_function(CollectMessage, nullptr); });
    t_messages = &messages_;
  }
  ~PopplerMessages() { t_messages = previous_; }
  PopplerMessages(const PopplerMessages&) = delete;
  PopplerMessages& operator=(const PopplerMessages&) = delete;

  // The first distinct messages without poppler's "error (offset): " prefix.
  std::string Summary() const {
    std::vector<std::string> seen;
    for (std::string m : messages_) {
      if (size_t colon = m.find(": "); m.rfind("error", 0) == 0 && colon != std::string::npos) {
        m.erase(0, colon + 2);
      }
      if (size_t nl = m.find("<0a>"); nl != std::string::npos) m.erase(nl);
      if (std::find(seen.begin(), seen.end(), m) == seen.end()) seen.push_back(m);
      if (seen.size() == 3) break;
    }
    std::string out;
    for (const auto& m : seen) out += (out.empty() ? "" : "; ") + m;
    return out.empty() ? "no PDF structure could be read" : out;
  }

 private:
  std::vector<std::string>* previous_;
  std::vector<std::string> messages_;
};

Status Unlock(poppler::document* pdf, const std::vector<std::string>& passwords) {
  // Each password is tried as the owner's and as the user's; unlock() answers "still locked".
  for (const std::string& password : passwords) {
    if (!pdf->unlock(password, password)) return Status::Ok();
  }
  std::string hint = passwords.empty()
                         ? "no password is configured: add it to ingest.pdf_passwords"
                         : "none of the " + std::to_string(passwords.size()) +
                               " passwords in ingest.pdf_passwords opens it: add its password there";
  return FailedPrecondition("PDF is password protected (encrypted); " + hint +
                            ", or remove the protection");
}

Result<std::unique_ptr<poppler::document>> Open(std::string_view bytes,
                                                const ExtractOptions& options) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return FailedPrecondition("PDF is too large: poppler reads at most 2 GiB (ingest.max_file_bytes)");
  }
  PopplerMessages messages;
  // poppler keeps pointing into `bytes` (no copy): the caller keeps them alive.
  std::unique_ptr<poppler::document> pdf(poppler::document::load_from_raw_data(
      bytes.data(), static_cast<int>(bytes.size())));
  if (!pdf) return InvalidArgument("corrupt or truncated PDF: " + messages.Summary());
  // A locked document must not be asked anything else: poppler crashes on pages() then.
  if (pdf->is_locked()) CLOISTER_RETURN_IF_ERROR(Unlock(pdf.get(), options.pdf_passwords));
  if (pdf->pages() <= 0) {
    return InvalidArgument("corrupt or truncated PDF: no page could be found (" +
                           messages.Summary() + ")");
  }
  return pdf;
}

constexpr const char* kSpace = " \t\r\n\f\v";

std::string Trim(std::string_view s) {
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return "";
  return std::string(s.substr(begin, s.find_last_not_of(kSpace) + 1 - begin));
}

std::string IsoDate(time_t t) {
  std::tm tm{};
  if (t == static_cast<time_t>(-1) || gmtime_r(&t, &tm) == nullptr) return "";
  if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) return "";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void ReadInfo(const poppler::document& pdf, ParsedDocument* doc) {
  doc->title = Trim(ToUtf8(pdf.get_title()));
  doc->author = Trim(ToUtf8(pdf.get_author()));
  doc->created = IsoDate(pdf.get_creation_date_t());
  doc->modified = IsoDate(pdf.get_modification_date_t());
  auto add = [&](const char* key, const poppler::ustring& value) {
    std::string v = Trim(ToUtf8(value));
    if (!v.empty()) doc->metadata.emplace_back(key, std::move(v));
  };
  add("subject", pdf.get_subject());
  add("keywords", pdf.get_keywords());
  add("creator", pdf.get_creator());
  add("producer", pdf.get_producer());
}

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(kSpace) == std::string_view::npos;
}

// Renders in 8-bit grey at `dpi`, lowered when the page would exceed kMaxOcrPixels. Sets *dpi to
// the resolution used. An invalid image when the page has no area or rendering fails.
poppler::image Render(const poppler::page& page, double* dpi) {
  poppler::rectf box = page.page_rect();
  double points = box.width() * box.height();
  if (!(points > 0) || !std::isfinite(points)) return {};
  double pixels = points * (*dpi / 72) * (*dpi / 72);
  if (pixels > kMaxOcrPixels) *dpi *= std::sqrt(kMaxOcrPixels / pixels);
  poppler::page_renderer renderer;
  renderer.set_render_hint(poppler::page_renderer::antialiasing, true);
  renderer.set_render_hint(poppler::page_renderer::text_antialiasing, true);
  renderer.set_image_format(poppler::image::format_gray8);
  return renderer.render_page(&page, *dpi, *dpi);
}

// True when no pixel is darker than light grey: nothing for OCR to read.
bool LooksEmpty(const poppler::image& image) {
  const auto* data = reinterpret_cast<const unsigned char*>(image.const_data());
  for (int y = 0; y < image.height(); ++y) {
    const unsigned char* row = data + static_cast<size_t>(y) * image.bytes_per_row();
    for (int x = 0; x < image.width(); ++x) {
      if (row[x] < 200) return false;
    }
  }
  return true;
}

// Reads pages one by one into a document, within the options' limits.
class PageReader {
 public:
  PageReader(const ExtractOptions& options, ParsedDocument* doc) : options_(options), doc_(doc) {}

  // False once the text limit is reached: later pages are not read.
  bool Read(const poppler::document& pdf, int index) {
    int number = index + 1;
    try {
      std::unique_ptr<poppler::page> page(pdf.create_page(index));
      if (!page) {
        Warn(number, "cannot be read (its page object is missing or broken)");
        return true;
      }
      std::string text = LayoutPageText(PageWords(*page));
      if (!IsBlank(text)) return Add(std::move(text), number, /*ocr=*/false);
      return options_.ocr ? Recognize(*page, number) : NoteUnreadImage(*page, number);
    } catch (const std::exception& e) {
      Warn(number, std::string("cannot be read: ") + e.what());
      return true;
    }
  }

 private:
  void Warn(int page, const std::string& what) {
    doc_->warnings.push_back("page " + std::to_string(page) + ": " + what);
  }

  bool Add(std::string text, int page, bool ocr) {
    uint64_t room = text_bytes_ < options_.max_text_bytes ? options_.max_text_bytes - text_bytes_ : 0;
    bool fits = text.size() <= room;
    if (!fits) {
      text.resize(CharacterStart(text, static_cast<size_t>(room)));
      Warn(page, "text cut off after " + std::to_string(options_.max_text_bytes) +
                     " bytes (ingest.max_text_bytes); later pages were not read");
    }
    text_bytes_ += text.size();
    if (!IsBlank(text)) doc_->blocks.push_back({std::move(text), page, "", ocr});
    return fits;
  }

  bool Recognize(const poppler::page& page, int number) {
    ExtractOptions options = options_;
    double dpi = std::clamp(options.ocr_dpi, 50, 1200);
    poppler::image image = Render(page, &dpi);
    if (!image.is_valid()) {
      Warn(number, "has no text layer and could not be rendered for OCR");
      return true;
    }
    if (LooksEmpty(image)) return true;
    options.ocr_dpi = static_cast<int>(dpi);
    Result<std::string> text = RecognizeImage(image, options);
    if (!text.ok()) {
      Warn(number, "has no text layer and OCR failed: " + text.status().message());
      return true;
    }
    std::string clean = ValidUtf8(*text);
    std::replace(clean.begin(), clean.end(), '\f', '\n');
    return IsBlank(clean) || Add(Trim(clean), number, /*ocr=*/true);
  }

  // With OCR off, a scanned page would otherwise vanish without a trace.
  bool NoteUnreadImage(const poppler::page& page, int number) {
    double dpi = kContentCheckDpi;
    poppler::image image = Render(page, &dpi);
    if (image.is_valid() && !LooksEmpty(image)) {
      Warn(number, "has no text layer (a scanned image?) and was not read because OCR is off "
                   "(ingest.ocr)");
    }
    return true;
  }

  const ExtractOptions& options_;
  ParsedDocument* doc_;
  uint64_t text_bytes_ = 0;
};

Result<ParsedDocument> Parse(std::string_view bytes, const ExtractOptions& options) {
  CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<poppler::document> pdf, Open(bytes, options));
  ParsedDocument doc;
  doc.format = "pdf";
  ReadInfo(*pdf, &doc);
  doc.page_count = pdf->pages();
  int pages = std::min(doc.page_count, std::max(options.max_pages, 0));
  PageReader reader(options, &doc);
  int read = 0;
  while (read < pages && reader.Read(*pdf, read)) ++read;
  if (pages < doc.page_count) {
    doc.warnings.push_back("only the first " + std::to_string(pages) + " of " +
                           std::to_string(doc.page_count) + " pages were read; " +
                           std::to_string(doc.page_count - pages) +
                           " skipped (ingest.max_pages)");
  }
  if (doc.blocks.empty() && pages > 0) {
    doc.warnings.push_back("no text found on any page" +
                           std::string(options.ocr ? "" : " (scanned pages need ingest.ocr)"));
  }
  return doc;
}

}  // namespace

Result<ParsedDocument> ParsePdf(std::string_view bytes, const ExtractOptions& options) {
  try {
    return Parse(bytes, options);
  } catch (const std::exception& e) {
    return Internal(std::string("the PDF library failed: ") + e.what());
  }
}

}  // namespace cloister::ingest
