#include "cloister/ingest/chunk.h"

#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/utext.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "normalize.h"
#include "scripts.h"

namespace cloister::ingest {
namespace {

constexpr size_t kMaxHeaderValueBytes = 200;

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// About 4 UTF-8 bytes per token, one token per character for scripts a tokenizer rarely merges.
class Estimate {
 public:
  void Add(UChar32 c, int bytes) {
    if (c >= 0x80 && IsTokenPerCharacter(c)) {
      ++per_char_;
    } else {
      other_bytes_ += bytes;
    }
  }
  int Tokens() const { return static_cast<int>(per_char_ + (other_bytes_ + 3) / 4); }

 private:
  int64_t per_char_ = 0;
  int64_t other_bytes_ = 0;
};

int EstimateTokens(std::string_view s) {
  Estimate e;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  int64_t n = static_cast<int64_t>(s.size());
  for (int64_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      e.Add(p[i++], 1);
      continue;
    }
    int64_t start = i;
    UChar32 c;
    U8_NEXT(p, i, n, c);
    e.Add(c, static_cast<int>(i - start));
  }
  return e.Tokens();
}

int CountTokens(const ChunkOptions& options, std::string_view s) {
  return options.count_tokens ? std::max(0, options.count_tokens(s)) : EstimateTokens(s);
}

// A sentence, or a piece of an over-long one: a byte range of one block's text.
struct Unit {
  size_t block;
  size_t begin;
  size_t end;
  int tokens;
};

// Splits blocks into units of at most `budget` tokens. Owns the ICU iterators, made once per
// ChunkDocument call because creating them costs far more than iterating a sentence.
class Splitter {
 public:
  Splitter(const ChunkOptions& options, int budget) : options_(options), budget_(budget) {
    UErrorCode status = U_ZERO_ERROR;
    sentences_.reset(icu::BreakIterator::createSentenceInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status)) sentences_.reset();
    status = U_ZERO_ERROR;
    words_.reset(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status)) words_.reset();
  }
  ~Splitter() {
    utext_close(&sentence_text_);
    utext_close(&word_text_);
  }
  Splitter(const Splitter&) = delete;
  Splitter& operator=(const Splitter&) = delete;

  void SplitBlock(size_t block, std::string_view text, std::vector<Unit>* units) {
    if (!sentences_ || !Open(&sentence_text_, text, sentences_.get())) {
      AddSentence(block, text, 0, text.size(), units);
      return;
    }
    int32_t start = sentences_->first();
    for (int32_t end = sentences_->next(); end != icu::BreakIterator::DONE;
         start = end, end = sentences_->next()) {
      AddSentence(block, text, static_cast<size_t>(start), static_cast<size_t>(end), units);
    }
  }

 private:
  static bool Open(UText* ut, std::string_view text, icu::BreakIterator* it) {
    UErrorCode status = U_ZERO_ERROR;
    utext_openUTF8(ut, text.data(), static_cast<int64_t>(text.size()), &status);
    if (U_SUCCESS(status)) it->setText(ut, status);
    return U_SUCCESS(status);
  }

  // Adds [begin, end) of `text` trimmed, if anything is left.
  void Push(size_t block, std::string_view text, size_t begin, size_t end, int tokens,
            std::vector<Unit>* units) const {
    std::string_view s = text.substr(begin, end - begin);
    size_t first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return;
    size_t last = s.find_last_not_of(" \t\r\n");
    units->push_back({block, begin + first, begin + last + 1, tokens});
  }

  void AddSentence(size_t block, std::string_view text, size_t begin, size_t end,
                   std::vector<Unit>* units) {
    std::string_view s = text.substr(begin, end - begin);
    if (IsBlank(s)) return;
    int tokens = CountTokens(options_, s);
    if (tokens <= budget_) return Push(block, text, begin, end, tokens, units);
    SplitSentence(block, text, begin, end, units);
  }

  // An over-long sentence: cut between words, never inside one unless a single word is longer
  // than the whole budget.
  void SplitSentence(size_t block, std::string_view text, size_t begin, size_t end,
                     std::vector<Unit>* units) {
    if (!words_ || !Open(&word_text_, text.substr(begin, end - begin), words_.get())) {
      return CutWord(block, text, begin, end, units);
    }
    size_t piece = begin;
    int acc = 0;
    int32_t from = words_->first();
    for (int32_t to = words_->next(); to != icu::BreakIterator::DONE;
         from = to, to = words_->next()) {
      size_t wb = begin + static_cast<size_t>(from), we = begin + static_cast<size_t>(to);
      std::string_view word = text.substr(wb, we - wb);
      if (IsBlank(word)) continue;
      int tokens = CountTokens(options_, word);
      if (tokens > budget_) {
        Push(block, text, piece, wb, acc, units);
        CutWord(block, text, wb, we, units);
        piece = we;
        acc = 0;
        continue;
      }
      if (acc > 0 && acc + tokens > budget_) {
        Push(block, text, piece, wb, acc, units);
        piece = wb;
        acc = 0;
      }
      acc += tokens;
    }
    Push(block, text, piece, end, acc, units);
  }

  // A "word" longer than the budget (a base64 blob, a giant URL): cut between characters, each
  // piece sized by the estimate and shrunk while the configured counter finds it too long.
  void CutWord(size_t block, std::string_view text, size_t begin, size_t end,
               std::vector<Unit>* units) const {
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    int64_t pos = static_cast<int64_t>(begin), stop = static_cast<int64_t>(end);
    while (pos < stop) {
      Estimate e;
      int64_t cut = pos;
      while (cut < stop) {
        int64_t next = cut;
        UChar32 c;
        U8_NEXT(p, next, stop, c);
        e.Add(c, static_cast<int>(next - cut));
        if (cut > pos && e.Tokens() > budget_) break;
        cut = next;
      }
      int tokens = CountTokens(options_, text.substr(pos, cut - pos));
      while (tokens > budget_ && cut - pos > 1) {
        auto half =
            static_cast<int64_t>(CharacterStart(text, static_cast<size_t>(pos + (cut - pos) / 2)));
        if (half <= pos) break;
        cut = half;
        tokens = CountTokens(options_, text.substr(pos, cut - pos));
      }
      Push(block, text, pos, cut, tokens, units);
      pos = cut;
    }
  }

  const ChunkOptions& options_;
  int budget_;
  std::unique_ptr<icu::BreakIterator> sentences_;
  std::unique_ptr<icu::BreakIterator> words_;
  UText sentence_text_ = UTEXT_INITIALIZER;
  UText word_text_ = UTEXT_INITIALIZER;
};

// Units [begin, end) as one chunk: text runs of the same block kept as written, blocks joined
// by a blank line.
ChunkText MakeChunk(const ParsedDocument& doc, const std::vector<Unit>& units, size_t begin,
                    size_t end, const std::string& header) {
  ChunkText chunk;
  if (!header.empty()) chunk.text = header + "\n";
  for (size_t i = begin; i < end;) {
    size_t j = i;
    while (j + 1 < end && units[j + 1].block == units[i].block) ++j;
    const TextBlock& block = doc.blocks[units[i].block];
    if (i > begin) chunk.text += "\n\n";
    chunk.text.append(block.text, units[i].begin, units[j].end - units[i].begin);
    if (block.page > 0) {
      chunk.page_start =
          chunk.page_start == 0 ? block.page : std::min(chunk.page_start, block.page);
      chunk.page_end = std::max(chunk.page_end, block.page);
    }
    chunk.ocr = chunk.ocr || block.ocr;
    i = j + 1;
  }
  chunk.heading = doc.blocks[units[begin].block].heading;
  return chunk;
}

// Greedy packing: each chunk opens with the trailing sentences of the previous one that fit in
// `overlap` tokens (fewer when the next new sentence would not fit), then takes new units while
// they fit. Every chunk takes at least one new unit, so the loop always advances.
void Pack(const ParsedDocument& doc, const std::vector<Unit>& units, int budget, int overlap,
          const std::string& header, std::vector<ChunkText>* out) {
  size_t next = 0, from = 0;
  while (next < units.size()) {
    int acc = 0;
    for (size_t i = from; i < next; ++i) acc += units[i].tokens;
    while (from < next && acc + units[next].tokens > budget) acc -= units[from++].tokens;
    size_t end = next;
    while (end < units.size() && (end == next || acc + units[end].tokens <= budget)) {
      acc += units[end++].tokens;
    }
    out->push_back(MakeChunk(doc, units, from, end, header));
    int repeated = 0;
    from = end;
    while (from > next && end < units.size() && repeated + units[from - 1].tokens <= overlap) {
      repeated += units[--from].tokens;
    }
    next = end;
  }
}

}  // namespace

std::string MailHeaderLine(const ParsedDocument& doc) {
  if (doc.format != "email") return "";
  const std::string& from = doc.Meta("from").empty() ? doc.author : doc.Meta("from");
  const std::string& date = doc.Meta("date").empty() ? doc.created : doc.Meta("date");
  const std::string& subject = doc.Meta("subject").empty() ? doc.title : doc.Meta("subject");
  std::string line;
  for (const auto& [label, value] :
       {std::pair{"From: ", &from}, std::pair{"Date: ", &date}, std::pair{"Subject: ", &subject}}) {
    std::string v = NormalizeLine(*value, kMaxHeaderValueBytes);
    if (v.empty()) continue;
    if (!line.empty()) line += " | ";
    line += label + v;
  }
  return line;
}

std::vector<ChunkText> ChunkDocument(const ParsedDocument& doc, const ChunkOptions& options) {
  std::vector<ChunkText> chunks;
  int budget = std::max(1, options.target_tokens);
  std::string header = MailHeaderLine(doc);
  if (!header.empty()) {
    // Mail chunks carry the header line inside the budget, unless it would take over half.
    budget = std::max(std::max(1, budget / 2), budget - CountTokens(options, header + "\n"));
  }
  Splitter splitter(options, budget);
  int overlap = static_cast<int>(std::clamp(options.overlap, 0.0, 0.5) * budget);
  std::vector<Unit> units;
  for (size_t b = 0; b < doc.blocks.size();) {
    units.clear();
    size_t e = b;
    // A chunk stays within one heading and one page, so every passage cites a single page.
    for (; e < doc.blocks.size() && doc.blocks[e].heading == doc.blocks[b].heading &&
           doc.blocks[e].page == doc.blocks[b].page;
         ++e) {
      splitter.SplitBlock(e, doc.blocks[e].text, &units);
    }
    Pack(doc, units, budget, overlap, header, &chunks);
    b = e;
  }
  return chunks;
}

std::vector<std::string_view> SplitSentences(std::string_view text) {
  std::vector<std::string_view> out;
  auto push = [&](size_t begin, size_t end) {
    std::string_view s = text.substr(begin, end - begin);
    size_t first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return;
    out.push_back(s.substr(first, s.find_last_not_of(" \t\r\n") + 1 - first));
  };
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::BreakIterator> it(icu::BreakIterator::createSentenceInstance(icu::Locale::getRoot(), status));
  UText ut = UTEXT_INITIALIZER;
  if (U_SUCCESS(status)) utext_openUTF8(&ut, text.data(), static_cast<int64_t>(text.size()), &status);
  if (U_SUCCESS(status)) it->setText(&ut, status);
  if (U_FAILURE(status)) {
    utext_close(&ut);
    push(0, text.size());
    return out;
  }
  int32_t start = it->first();
  for (int32_t end = it->next(); end != icu::BreakIterator::DONE; start = end, end = it->next()) {
    push(static_cast<size_t>(start), static_cast<size_t>(end));
  }
  utext_close(&ut);
  return out;
}

}  // namespace cloister::ingest
