#include "pdf_text.h"

#include <unicode/uchar.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdint>

namespace cloister::ingest {
namespace {

std::vector<UChar32> CodePoints(const poppler::ustring& text) {
  std::vector<UChar32> out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    UChar32 c = text[i++];
    if (U16_IS_LEAD(c) && i < text.size() && U16_IS_TRAIL(text[i])) {
      c = U16_GET_SUPPLEMENTARY(c, text[i++]);
    } else if (U16_IS_SURROGATE(c)) {
      c = 0xFFFD;
    }
    out.push_back(c);
  }
  return out;
}

std::string Encode(const std::vector<UChar32>& code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (UChar32 c : code_points) {
    if (c == 0) continue;
    char buf[U8_MAX_LENGTH];
    int32_t len = 0;
    UBool error = false;
    U8_APPEND(buf, len, U8_MAX_LENGTH, c, error);
    if (error) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(buf, static_cast<size_t>(len));
    }
  }
  return out;
}

bool IsRtl(UChar32 c) {
  UCharDirection d = u_charDirection(c);
  return d == U_RIGHT_TO_LEFT || d == U_RIGHT_TO_LEFT_ARABIC;
}

// Digits and left-to-right letters, which keep their left-to-right order inside RTL text.
bool KeepsOrder(UChar32 c) {
  UCharDirection d = u_charDirection(c);
  return d == U_LEFT_TO_RIGHT || d == U_EUROPEAN_NUMBER || d == U_ARABIC_NUMBER;
}

int Direction(const std::vector<UChar32>& code_points) {
  int balance = 0;
  for (UChar32 c : code_points) {
    if (IsRtl(c)) --balance;
    if (u_charDirection(c) == U_LEFT_TO_RIGHT) ++balance;
  }
  return balance < 0 ? -1 : (balance > 0 ? 1 : 0);
}

// Whether the glyphs were stored in the order they appear along the line's direction, which
// for right-to-left script means visual order.
bool DrawnForwards(const poppler::text_box& box, size_t glyphs, int rotation) {
  if (glyphs < 2) return false;
  poppler::rectf first = box.char_bbox(0);
  poppler::rectf last = box.char_bbox(glyphs - 1);
  switch (rotation & 3) {
    case 1: return last.y() > first.y() + 0.01;
    case 2: return last.x() < first.x() - 0.01;
    case 3: return last.y() < first.y() - 0.01;
    default: return last.x() > first.x() + 0.01;
  }
}

// Visual order to logical order for one right-to-left word: clusters (a base and its combining
// marks) reversed, runs of digits and left-to-right letters kept as they are, brackets mirrored.
std::vector<UChar32> Logical(const std::vector<UChar32>& visual) {
  std::vector<std::vector<UChar32>> clusters;
  for (UChar32 c : visual) {
    bool mark = (U_GET_GC_MASK(c) & (U_GC_MN_MASK | U_GC_ME_MASK)) != 0;
    if (mark && !clusters.empty()) {
      clusters.back().push_back(c);
    } else {
      clusters.push_back({c});
    }
  }
  std::vector<UChar32> out;
  out.reserve(visual.size());
  for (size_t end = clusters.size(); end > 0;) {
    size_t start = end - 1;
    if (KeepsOrder(clusters[start][0])) {
      while (start > 0 && KeepsOrder(clusters[start - 1][0])) --start;
      for (size_t i = start; i < end; ++i) out.insert(out.end(), clusters[i].begin(), clusters[i].end());
    } else {
      std::vector<UChar32> cluster = clusters[start];
      if (u_isMirrored(cluster[0])) cluster[0] = u_charMirror(cluster[0]);
      out.insert(out.end(), cluster.begin(), cluster.end());
    }
    end = start;
  }
  return out;
}

}  // namespace

std::string ToUtf8(const poppler::ustring& text) { return Encode(CodePoints(text)); }

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  int32_t length = static_cast<int32_t>(std::min<size_t>(text.size(), INT32_MAX));
  for (int32_t i = 0; i < length;) {
    int32_t start = i;
    UChar32 c;
    U8_NEXT(s, i, length, c);
    if (c < 0) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(text.data() + start, static_cast<size_t>(i - start));
    }
  }
  return out;
}

std::vector<LayoutWord> PageWords(const poppler::page& page) {
  std::vector<poppler::text_box> boxes = page.text_list();
  std::vector<LayoutWord> words;
  words.reserve(boxes.size());
  for (const poppler::text_box& box : boxes) {
    std::vector<UChar32> code_points = CodePoints(box.text());
    LayoutWord word;
    word.rotation = box.rotation();
    word.direction = Direction(code_points);
    if (word.direction < 0 && DrawnForwards(box, code_points.size(), word.rotation)) {
      code_points = Logical(code_points);
    }
    word.text = Encode(code_points);
    poppler::rectf r = box.bbox();
    word.x0 = r.left(), word.y0 = r.top(), word.x1 = r.right(), word.y1 = r.bottom();
    word.space_after = box.has_space_after();
    words.push_back(std::move(word));
  }
  return words;
}

}  // namespace cloister::ingest
