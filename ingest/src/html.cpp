// HTML through libxml2's error-tolerant HTML parser: the visible text, with headings as sections.
#include <libxml/HTMLparser.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "charset.h"
#include "cloister/ingest/chunk.h"
#include "libxml_init.h"
#include "normalize.h"
#include "parsers.h"

namespace cloister::ingest {
namespace {

// The page was decoded to UTF-8 already, so its own charset declaration is ignored. Without
// XML_PARSE_HUGE the parser gives up past 256 levels of nesting and the rest of the page is
// lost; nesting costs us nothing, as no tree is built.
constexpr int kHtmlOptions = HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                             HTML_PARSE_NOWARNING | HTML_PARSE_IGNORE_ENC | XML_PARSE_HUGE;
constexpr size_t kChunkBytes = 1 << 20;
constexpr size_t kMaxTitleBytes = 4096;

enum class Role { kInline, kSkip, kBlock, kLine, kCell, kHeading, kTitle, kHead, kPre };

bool NameIn(const char* name, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return !strcmp(name, n); });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// hidden, aria-hidden="true" or an inline display:none / visibility:hidden style.
// `attributes` is libxml2's name, value, name, value, ..., nullptr array.
bool IsHidden(const xmlChar** attributes) {
  for (int i = 0; attributes != nullptr && attributes[i] != nullptr; i += 2) {
    const char* name = reinterpret_cast<const char*>(attributes[i]);
    if (!strcmp(name, "hidden")) return true;
    if (attributes[i + 1] == nullptr) continue;
    std::string value = Lower(reinterpret_cast<const char*>(attributes[i + 1]));
    value.erase(std::remove(value.begin(), value.end(), ' '), value.end());
    if (!strcmp(name, "aria-hidden") && value == "true") return true;
    if (!strcmp(name, "style") && (value.find("display:none") != std::string::npos ||
                                   value.find("visibility:hidden") != std::string::npos)) {
      return true;
    }
  }
  return false;
}

// libxml2 gives HTML element names in lower case. Elements whose content is fallback for what
// cannot be shown (video, canvas) or never shown (script) are skipped; embed and object are not,
// since libxml2 lets an unclosed one swallow the rest of the page.
Role RoleOf(const char* n, const xmlChar** attributes) {
  if (NameIn(n, {"script", "style", "noscript", "template", "iframe", "svg", "math", "canvas",
                 "select", "datalist", "audio", "video"}) ||
      IsHidden(attributes)) {
    return Role::kSkip;
  }
  if (n[0] == 'h' && n[1] >= '1' && n[1] <= '6' && n[2] == '\0') return Role::kHeading;
  if (!strcmp(n, "title")) return Role::kTitle;
  if (!strcmp(n, "head")) return Role::kHead;
  if (!strcmp(n, "pre")) return Role::kPre;
  if (NameIn(n, {"br", "wbr"})) return Role::kLine;
  if (NameIn(n, {"td", "th"})) return Role::kCell;
  if (NameIn(n, {"p",          "div",     "li",      "ul",     "ol",         "dl",     "dt",
                 "dd",         "tr",      "table",   "thead",  "tbody",      "tfoot",  "caption",
                 "section",    "article", "header",  "footer", "nav",        "aside",  "main",
                 "blockquote", "hr",      "address", "figure", "figcaption", "form",   "fieldset",
                 "legend",     "details", "summary", "body",   "html",       "center", "option",
                 "menu",       "dialog",  "hgroup"})) {
    return Role::kBlock;
  }
  return Role::kInline;
}

// Builds the blocks from the parser's events. The parser balances them (it closes what the page
// left open), so a stack of roles is all the state needed, and no tree is ever built: memory
// stays flat however large or deeply nested the page.
class TextCollector {
 public:
  ParsedDocument Finish() && {
    FinishBlock();
    doc_.format = "html";
    doc_.title = NormalizeLine(title_);
    if (doc_.title.empty()) doc_.title = first_heading_;
    return std::move(doc_);
  }

  void Start(const char* name, const xmlChar** attributes) {
    Role role = skip_depth_ > 0 ? Role::kSkip : RoleOf(name, attributes);
    if (role == Role::kSkip) {
      ++skip_depth_;
      return;
    }
    roles_.push_back(role);
    switch (role) {
      case Role::kHeading:
        if (in_heading_++ == 0) FinishBlock();
        break;
      case Role::kTitle:
        ++in_title_;
        break;
      case Role::kHead:
        ++in_head_;
        break;
      case Role::kPre:
        ++in_pre_;
        text_ += "\n\n";
        break;
      case Role::kBlock:
        text_ += "\n\n";
        break;
      case Role::kLine:
        text_ += '\n';
        break;
      case Role::kCell:
        text_ += ' ';
        break;
      default:
        break;
    }
  }

  void End() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return;
    }
    if (roles_.empty()) return;
    Role role = roles_.back();
    roles_.pop_back();
    switch (role) {
      case Role::kHeading:
        if (--in_heading_ == 0) StartSection();
        break;
      case Role::kTitle:
        --in_title_;
        break;
      case Role::kHead:
        --in_head_;
        break;
      case Role::kPre:
        --in_pre_;
        text_ += "\n\n";
        break;
      case Role::kBlock:
        text_ += "\n\n";
        break;
      case Role::kCell:
        text_ += ' ';
        break;
      default:
        break;
    }
  }

  // Source line breaks are plain spaces in HTML, except inside <pre>.
  void Text(std::string_view s) {
    if (skip_depth_ > 0) return;
    if (in_title_ > 0) {
      if (title_.size() < kMaxTitleBytes) title_.append(s);
      return;
    }
    if (in_head_ > 0) return;
    size_t start = text_.size();
    text_.append(s);
    if (in_pre_ > 0) return;
    std::replace_if(
        text_.begin() + static_cast<std::ptrdiff_t>(start), text_.end(),
        [](char c) { return c == '\n' || c == '\r' || c == '\t' || c == '\f'; }, ' ');
  }

 private:
  // The heading's text is the start of the new block; it becomes the block's heading too.
  void StartSection() {
    heading_ = NormalizeLine(text_);
    if (first_heading_.empty()) first_heading_ = heading_;
    text_ += "\n\n";
  }

  void FinishBlock() {
    std::string text = NormalizeText(text_);
    if (!text.empty()) doc_.blocks.push_back({std::move(text), 0, heading_, false});
    text_.clear();
  }

  ParsedDocument doc_;
  std::vector<Role> roles_;
  std::string text_;
  std::string title_;
  std::string heading_;
  std::string first_heading_;
  int skip_depth_ = 0;
  int in_heading_ = 0;
  int in_title_ = 0;
  int in_head_ = 0;
  int in_pre_ = 0;
};

void OnStart(void* collector, const xmlChar* name, const xmlChar** attributes) {
  static_cast<TextCollector*>(collector)->Start(reinterpret_cast<const char*>(name), attributes);
}
void OnEnd(void* collector, const xmlChar*) { static_cast<TextCollector*>(collector)->End(); }
void OnText(void* collector, const xmlChar* text, int len) {
  static_cast<TextCollector*>(collector)->Text(
      std::string_view(reinterpret_cast<const char*>(text), static_cast<size_t>(len)));
}

// The charset a page declares in its first bytes: <meta charset=...>, http-equiv content
// "...; charset=..." or an XML declaration's encoding. A declared UTF-16 or UTF-32 is ignored,
// as browsers do: a page readable enough to declare it is not in it (a byte-order mark decides).
std::string DeclaredCharset(std::string_view bytes) {
  std::string head = Lower(bytes.substr(0, 4096));
  size_t pos = head.find("charset=");
  size_t skip = 8;
  if (pos == std::string::npos && head.rfind("<?xml", 0) == 0) {
    pos = head.find("encoding=");
    skip = 9;
  }
  if (pos == std::string::npos) return "";
  size_t begin = head.find_first_not_of("\"' ", pos + skip);
  if (begin == std::string::npos) return "";
  size_t end = head.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_.:", begin);
  std::string charset = head.substr(begin, (end == std::string::npos ? head.size() : end) - begin);
  bool wide = charset.rfind("utf-16", 0) == 0 || charset.rfind("utf-32", 0) == 0;
  return wide ? "" : charset;
}

// libxml2's HTML parser in push mode with SAX callbacks: the same error recovery as
// htmlReadMemory, without a tree.
ParsedDocument ReadHtml(std::string_view bytes) {
  InitLibxml();
  std::string utf8 = DecodeToUtf8(bytes, DeclaredCharset(bytes)).text;
  TextCollector collector;
  htmlSAXHandler sax{};
  sax.startElement = OnStart;
  sax.endElement = OnEnd;
  sax.characters = OnText;
  sax.cdataBlock = OnText;
  std::unique_ptr<htmlParserCtxt, decltype(&htmlFreeParserCtxt)> parser(
      htmlCreatePushParserCtxt(&sax, &collector, nullptr, 0, nullptr, XML_CHAR_ENCODING_UTF8),
      htmlFreeParserCtxt);
  if (!parser) return std::move(collector).Finish();
  htmlCtxtUseOptions(parser.get(), kHtmlOptions);
  for (size_t pos = 0; pos < utf8.size(); pos += kChunkBytes) {
    size_t n = std::min(kChunkBytes, utf8.size() - pos);
    htmlParseChunk(parser.get(), utf8.data() + pos, static_cast<int>(n), 0);
  }
  htmlParseChunk(parser.get(), nullptr, 0, 1);
  return std::move(collector).Finish();
}

}  // namespace

Result<ParsedDocument> ParseHtml(std::string_view bytes) { return ReadHtml(bytes); }

std::string HtmlToText(std::string_view html) {
  ParsedDocument doc = ReadHtml(html);
  std::string text;
  for (const TextBlock& block : doc.blocks) {
    if (!text.empty()) text += "\n\n";
    text += block.text;
  }
  return text;
}

}  // namespace cloister::ingest
