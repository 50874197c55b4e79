// Plain text and Markdown.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "charset.h"
#include "cloister/ingest/chunk.h"
#include "markdown.h"
#include "normalize.h"
#include "parsers.h"

namespace cloister::ingest {
namespace {

// Front matter is metadata, never a screenful: a block longer than this is read as text.
constexpr size_t kMaxFrontMatterBytes = 64 << 10;

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") + 1 - b);
}

// Calls `f` with each line of `text`, without its line ending.
template <typename F>
void ForEachLine(std::string_view text, F&& f) {
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f(line);
    start = end + 1;
  }
}

std::string_view WithoutQuotes(std::string_view v) {
  v = Trim(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    v = v.substr(1, v.size() - 2);
  }
  return v;
}

// "2024-01-31", optionally followed by a time: what ParsedDocument::created expects.
bool LooksLikeIsoDate(std::string_view v) {
  auto digits = [&](size_t from, size_t n) {
    return v.size() >= from + n &&
           v.substr(from, n).find_first_not_of("0123456789") == std::string_view::npos;
  };
  return digits(0, 4) && v.size() >= 10 && v[4] == '-' && digits(5, 2) && v[7] == '-' &&
         digits(8, 2);
}

class MarkdownReader {
 public:
  ParsedDocument Read(std::string_view text) && {
    doc_.format = "markdown";
    ForEachLine(FrontMatter(text), [this](std::string_view line) { Line(line); });
    FlushParagraph();
    FinishSection();
    return std::move(doc_);
  }

 private:
  // YAML front matter ("---" ... "---") gives title, author and date; its other keys are
  // configuration of the site generator, not content.
  std::string_view FrontMatter(std::string_view text) {
    if (text.substr(0, 4) != "---\n" && text.substr(0, 5) != "---\r\n") return text;
    size_t start = text.find('\n') + 1;
    for (size_t pos = start; pos < text.size() && pos < kMaxFrontMatterBytes;) {
      size_t nl = text.find('\n', pos);
      size_t end = nl == std::string_view::npos ? text.size() : nl;
      std::string_view line = Trim(text.substr(pos, end - pos));
      if (!line.empty() && line.back() == '\r') line = Trim(line.substr(0, line.size() - 1));
      if (line == "---" || line == "...") {
        ReadFrontMatter(text.substr(start, pos - start));
        return text.substr(std::min(end + 1, text.size()));
      }
      pos = end + 1;
    }
    return text;
  }

  void ReadFrontMatter(std::string_view yaml) {
    ForEachLine(yaml, [this](std::string_view line) {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || line.empty() || line[0] == ' ') return;
      std::string_view key = Trim(line.substr(0, colon));
      std::string value = NormalizeLine(WithoutQuotes(line.substr(colon + 1)));
      if (key == "title") doc_.title = value;
      if (key == "author") doc_.author = value;
      if (key == "date" && LooksLikeIsoDate(value)) doc_.created = value;
    });
  }

  void Line(std::string_view line) {
    std::string_view text;
    if (!fence_.empty()) return CodeLine(line);
    if (Trim(line).empty()) return FlushParagraph();
    if (IsFence(line, &fence_)) {
      FlushParagraph();
      body_ += "\n\n";
      return;
    }
    if (ParseAtxHeading(line, &text)) {
      FlushParagraph();
      return StartSection(StripInlineMarkdown(text));
    }
    if (!paragraph_.empty() && IsSetextUnderline(line)) {
      std::string heading;
      for (std::string_view l : paragraph_) heading += StripInlineMarkdown(l) + "\n";
      paragraph_.clear();
      return StartSection(heading);
    }
    if (IsThematicBreak(line)) return FlushParagraph();
    if (paragraph_.empty() && IsLinkDefinition(line)) return;
    paragraph_.push_back(line);
  }

  // Code is kept as written, up to the closing fence (same character, at least as long).
  void CodeLine(std::string_view line) {
    std::string_view fence;
    if (IsFence(line, &fence) && fence[0] == fence_[0] && fence.size() >= fence_.size()) {
      fence_ = {};
      body_ += "\n\n";
      return;
    }
    body_.append(line);
    body_ += '\n';
  }

  void FlushParagraph() {
    if (paragraph_.empty()) return;
    body_ += "\n\n";
    for (std::string_view line : paragraph_) {
      line = Trim(line);
      while (!line.empty() && line[0] == '>') line = Trim(line.substr(1));  // block quotes
      body_ += StripInlineMarkdown(line);
      body_ += '\n';
    }
    paragraph_.clear();
  }

  // The heading also stays in the text, whole, as its first paragraph: a section may be nothing
  // but a heading, and its words must remain searchable.
  void StartSection(const std::string& heading) {
    FinishSection();
    heading_ = NormalizeLine(heading);
    if (doc_.title.empty()) doc_.title = heading_;
    body_ = heading + "\n\n";
  }

  void FinishSection() {
    std::string text = NormalizeText(body_);
    if (!text.empty()) doc_.blocks.push_back({std::move(text), 0, heading_, false});
    body_.clear();
  }

  ParsedDocument doc_;
  std::string heading_;
  std::string body_;
  std::vector<std::string_view> paragraph_;
  std::string_view fence_;  // the open code fence, empty outside code
};

}  // namespace

Result<ParsedDocument> ParseText(std::string_view bytes, Format format) {
  Decoded decoded = DecodeToUtf8(bytes);
  ParsedDocument doc;
  if (format == Format::kMarkdown) {
    doc = MarkdownReader().Read(decoded.text);
  } else {
    doc.format = "text";
    std::string text = NormalizeText(decoded.text);
    if (!text.empty()) doc.blocks.push_back({std::move(text), 0, "", false});
  }
  doc.metadata.emplace_back("charset", decoded.charset);
  return doc;
}

}  // namespace cloister::ingest
