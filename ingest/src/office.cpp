// DOCX (WordprocessingML) and ODT (OpenDocument text): body paragraphs and headings from the
// zip's main XML part, title, author and dates from its properties part.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cloister/ingest/chunk.h"
#include "normalize.h"
#include "parsers.h"
#include "xml_walk.h"
#include "zip.h"

namespace cloister::ingest {
namespace {

constexpr int kMaxRepeatedSpaces = 100;  // ODT <text:s text:c="..."/>

struct Paragraph {
  std::string text;
  int level = 0;       // 1-9 for headings, 0 for body text
  bool title = false;  // styled as the document title
};

int ToInt(const std::string& s, int fallback) {
  bool digits = std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (s.empty() || s.size() > 6 || !digits) return fallback;
  return std::stoi(s);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Paragraphs in reading order, stopping at the text limit. Paragraphs nested in text boxes
// come out as paragraphs of their own, just before the rest of the paragraph that holds them.
class ParagraphCollector : public XmlHandler {
 public:
  explicit ParagraphCollector(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  bool Done() const override { return truncated_; }
  bool truncated() const { return truncated_; }
  std::vector<Paragraph> Take() && {
    Flush();
    return std::move(paragraphs_);
  }

 protected:
  void Append(std::string_view text) {
    bytes_ += text.size();
    if (bytes_ > max_bytes_) {
      truncated_ = true;
      return;
    }
    current_.text.append(text);
  }
  void Flush() {
    if (current_.text.find_first_not_of(" \t\r\n") != std::string::npos) {
      paragraphs_.push_back(std::move(current_));
    }
    current_ = {};
  }
  Paragraph current_;

 private:
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  bool truncated_ = false;
  std::vector<Paragraph> paragraphs_;
};

// word/styles.xml: which paragraph styles are headings. Word names built-in styles in English
// ("heading 1") whatever the user interface language, while style ids are localised
// ("berschrift1"), so the name is what counts.
class DocxStyles : public XmlHandler {
 public:
  std::map<std::string, Paragraph> Take() && { return std::move(styles_); }
  bool Start(std::string_view name, const XmlElement& e) override {
    if (name == "style") {
      id_ = e.Attr("styleId");
      style_ = {};
    } else if (name == "name" && !id_.empty()) {
      std::string n = Lower(e.Attr("val"));
      if (n == "title") style_.title = true;
      if (n.size() == 9 && n.rfind("heading ", 0) == 0) style_.level = ToInt(n.substr(8), 0);
    } else if (name == "outlineLvl" && !id_.empty() && style_.level == 0) {
      int level = ToInt(e.Attr("val"), 9) + 1;
      if (level <= 9) style_.level = level;
    }
    return true;
  }
  void End(std::string_view name) override {
    if (name != "style") return;
    if (!id_.empty() && (style_.level > 0 || style_.title)) styles_[id_] = style_;
    id_.clear();
  }
  void Text(std::string_view) override {}

 private:
  std::string id_;
  Paragraph style_;
  std::map<std::string, Paragraph> styles_;
};

// The heading level of a style id when styles.xml is missing: Word's English ids.
Paragraph DefaultStyle(const std::string& id) {
  Paragraph p;
  p.title = id == "Title";
  if (id.size() == 8 && id.rfind("Heading", 0) == 0) p.level = ToInt(id.substr(7), 0);
  return p;
}

// word/document.xml: w:p paragraphs of w:t runs, w:tab, w:br; the style from w:pPr.
class DocxBody : public ParagraphCollector {
 public:
  DocxBody(const std::map<std::string, Paragraph>* styles, uint64_t max_bytes)
      : ParagraphCollector(max_bytes), styles_(styles) {}

  bool Start(std::string_view name, const XmlElement& e) override {
    // Alternate content repeats its text for old readers in mc:Fallback.
    if (name == "Fallback") return false;
    if (name == "p") Flush();
    if (name == "pPr") ++in_properties_;
    if (in_properties_ > 0) {
      if (name == "pStyle") ApplyStyle(e.Attr("val"));
      if (name == "outlineLvl" && current_.level == 0) {
        int level = ToInt(e.Attr("val"), 9) + 1;
        if (level <= 9) current_.level = level;
      }
      return true;  // w:tab inside w:pPr is a tab stop, not a tab
    }
    if (name == "t") ++in_text_;
    if (name == "tab") Append("\t");
    if (name == "br" || name == "cr") Append("\n");
    if (name == "noBreakHyphen") Append("-");
    return true;
  }
  void End(std::string_view name) override {
    if (name == "p") Flush();
    if (name == "pPr") --in_properties_;
    if (name == "t") --in_text_;
  }
  void Text(std::string_view text) override {
    if (in_text_ > 0) Append(text);
  }

 private:
  void ApplyStyle(const std::string& id) {
    auto it = styles_->find(id);
    Paragraph style = it != styles_->end() ? it->second : DefaultStyle(id);
    current_.level = style.level;
    current_.title = style.title;
  }

  const std::map<std::string, Paragraph>* styles_;
  int in_properties_ = 0;
  int in_text_ = 0;
};

// content.xml: text:p and text:h (with text:outline-level), text:s, text:tab, text:line-break.
class OdtBody : public ParagraphCollector {
 public:
  using ParagraphCollector::ParagraphCollector;

  bool Start(std::string_view name, const XmlElement& e) override {
    // Comments and the deleted text kept for change tracking are not part of the document.
    if (name == "annotation" || name == "tracked-changes") return false;
    if (name == "p" || name == "h") {
      Flush();
      ++in_paragraph_;
      if (name == "h") current_.level = std::clamp(ToInt(e.Attr("outline-level"), 1), 1, 9);
      current_.title = e.Attr("style-name") == "Title";
    } else if (name == "s") {
      Append(std::string(std::clamp(ToInt(e.Attr("c"), 1), 1, kMaxRepeatedSpaces), ' '));
    } else if (name == "tab") {
      Append("\t");
    } else if (name == "line-break") {
      Append("\n");
    }
    return true;
  }
  void End(std::string_view name) override {
    if (name != "p" && name != "h") return;
    --in_paragraph_;
    Flush();
  }
  void Text(std::string_view text) override {
    if (in_paragraph_ > 0) Append(text);
  }

 private:
  int in_paragraph_ = 0;
};

// The text of the named elements of a properties part (docProps/core.xml, meta.xml).
class Properties : public XmlHandler {
 public:
  explicit Properties(std::set<std::string> names) : names_(std::move(names)) {}
  std::string Get(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? "" : NormalizeLine(it->second);
  }
  bool Start(std::string_view name, const XmlElement&) override {
    if (names_.count(std::string(name))) current_ = name;
    return true;
  }
  void End(std::string_view) override { current_.clear(); }
  void Text(std::string_view text) override {
    if (!current_.empty() && values_[current_].size() < 4096) values_[current_].append(text);
  }

 private:
  std::set<std::string> names_;
  std::string current_;
  std::map<std::string, std::string> values_;
};

// Blocks from paragraphs: each heading opens a block whose text starts with the heading.
void AddBlocks(std::vector<Paragraph> paragraphs, ParsedDocument* doc) {
  std::string heading, text, first_heading, title;
  auto finish = [&] {
    std::string clean = NormalizeText(text);
    if (!clean.empty()) doc->blocks.push_back({std::move(clean), 0, heading, false});
    text.clear();
  };
  for (Paragraph& p : paragraphs) {
    if (p.level > 0 || p.title) {
      finish();
      heading = NormalizeLine(p.text);
      if (first_heading.empty()) first_heading = heading;
      if (p.title && title.empty()) title = heading;
    }
    text += p.text;
    text += "\n\n";
  }
  finish();
  if (doc->title.empty()) doc->title = title.empty() ? first_heading : title;
}

ZipLimits LimitsFor(const ExtractOptions& options) {
  ZipLimits limits;
  limits.max_entry_bytes = std::max<uint64_t>(options.max_text_bytes, 1 << 20) * 4;
  return limits;
}

// Reads the body with `body`, keeping what came before a damaged spot as a warning.
Status ReadBody(const std::string& xml, const std::string& part, ParagraphCollector* body,
                const ExtractOptions& options, ParsedDocument* doc) {
  Status st = WalkXml(xml, part, body);
  std::vector<Paragraph> paragraphs = std::move(*body).Take();
  if (!st.ok() && paragraphs.empty()) return st;
  if (!st.ok()) doc->warnings.push_back(st.message() + "; the text before it was kept");
  if (body->truncated()) {
    doc->warnings.push_back("text truncated at " + std::to_string(options.max_text_bytes) +
                            " bytes (ingest.max_text_bytes)");
  }
  AddBlocks(std::move(paragraphs), doc);
  return Status::Ok();
}

}  // namespace

Result<ParsedDocument> ParseDocx(std::string_view bytes, const ExtractOptions& options) {
  const std::string kBody = "word/document.xml", kStyles = "word/styles.xml",
                    kCore = "docProps/core.xml";
  CLOISTER_ASSIGN_OR_RETURN(auto parts,
                            ReadZipEntries(bytes, {kBody, kStyles, kCore}, LimitsFor(options)));
  if (!parts.count(kBody)) {
    return InvalidArgument("DOCX has no " + kBody + ": not a Word document, or a damaged one");
  }
  ParsedDocument doc;
  doc.format = "docx";
  Properties core({"title", "creator", "created", "modified"});
  if (parts.count(kCore) && !WalkXml(parts[kCore], kCore, &core).ok()) {
    doc.warnings.push_back(kCore + " is damaged: title, author and dates were not read");
  }
  doc.title = core.Get("title");
  doc.author = core.Get("creator");
  doc.created = core.Get("created");
  doc.modified = core.Get("modified");
  DocxStyles styles;
  if (parts.count(kStyles)) (void)WalkXml(parts[kStyles], kStyles, &styles);
  std::map<std::string, Paragraph> style_map = std::move(styles).Take();
  DocxBody body(&style_map, options.max_text_bytes);
  CLOISTER_RETURN_IF_ERROR(ReadBody(parts[kBody], kBody, &body, options, &doc));
  return doc;
}

Result<ParsedDocument> ParseOdt(std::string_view bytes, const ExtractOptions& options) {
  const std::string kBody = "content.xml", kMeta = "meta.xml";
  CLOISTER_ASSIGN_OR_RETURN(auto parts, ReadZipEntries(bytes, {kBody, kMeta}, LimitsFor(options)));
  if (!parts.count(kBody)) {
    return InvalidArgument("ODT has no " + kBody + ": not an OpenDocument text, or a damaged one");
  }
  ParsedDocument doc;
  doc.format = "odt";
  Properties meta({"title", "initial-creator", "creator", "creation-date", "date"});
  if (parts.count(kMeta) && !WalkXml(parts[kMeta], kMeta, &meta).ok()) {
    doc.warnings.push_back(kMeta + " is damaged: title, author and dates were not read");
  }
  doc.title = meta.Get("title");
  doc.author =
      meta.Get("initial-creator").empty() ? meta.Get("creator") : meta.Get("initial-creator");
  doc.created = meta.Get("creation-date");
  doc.modified = meta.Get("date");
  OdtBody body(options.max_text_bytes);
  CLOISTER_RETURN_IF_ERROR(ReadBody(parts[kBody], kBody, &body, options, &doc));
  return doc;
}

}  // namespace cloister::ingest
