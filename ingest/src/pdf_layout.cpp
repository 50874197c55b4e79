#include "pdf_layout.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace cloister::ingest {
namespace {

// Above this many fragments a page is read line by line without looking for columns: the search
// costs fragments x bins, and such pages are generated tables or noise, not prose columns.
constexpr size_t kMaxFragmentsForColumns = 20000;
constexpr int kMaxCutDepth = 8;
constexpr int kMaxBins = 1000;

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  double Height() const { return y1 - y0; }
  double CenterX() const { return (x0 + x1) / 2; }
  double CenterY() const { return (y0 + y1) / 2; }
  void Add(const Box& b) {
    x0 = std::min(x0, b.x0), y0 = std::min(y0, b.y0);
    x1 = std::max(x1, b.x1), y1 = std::max(y1, b.y1);
  }
};

// Words that sit next to each other on one baseline: a piece of a line that never crosses a
// column gutter, because gutters are wider than the largest gap allowed inside a fragment.
struct Fragment {
  Box box;
  std::vector<size_t> words;
};

struct Page {
  const std::vector<LayoutWord>& words;
  std::vector<Box> boxes;  // per word, turned so that its text runs left to right
  std::vector<Fragment> frags;
  bool rtl = false;
};

// Turns a box so that text written in `rotation` reads along +x with lines advancing along +y.
Box Upright(const LayoutWord& w) {
  switch (w.rotation & 3) {
    case 1: return {w.y0, -w.x1, w.y1, -w.x0};
    case 2: return {-w.x1, -w.y1, -w.x0, -w.y0};
    case 3: return {-w.y1, w.x0, -w.y0, w.x1};
    default: return {w.x0, w.y0, w.x1, w.y1};
  }
}

bool Usable(const LayoutWord& w) {
  return !w.text.empty() && std::isfinite(w.x0) && std::isfinite(w.y0) && std::isfinite(w.x1) &&
         std::isfinite(w.y1) && std::abs(w.x0) < 1e7 && std::abs(w.y0) < 1e7 &&
         std::abs(w.x1) < 1e7 && std::abs(w.y1) < 1e7;
}

// Fixes boxes with reversed or zero extent, which broken fonts produce.
Box Sane(Box b) {
  if (b.x1 < b.x0) std::swap(b.x0, b.x1);
  if (b.y1 < b.y0) std::swap(b.y0, b.y1);
  if (b.Height() < 1) b.y1 = b.y0 + 1;
  return b;
}

double VerticalOverlap(const Box& a, const Box& b) {
  return std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
}

bool SameLine(const Box& a, const Box& b) {
  return VerticalOverlap(a, b) >= 0.5 * std::min(a.Height(), b.Height());
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Fragments from consecutive words (in poppler's order) on one baseline with word-sized gaps.
void BuildFragments(const std::vector<size_t>& order, Page* page) {
  for (size_t i : order) {
    const Box& b = page->boxes[i];
    if (!page->frags.empty()) {
      Fragment& f = page->frags.back();
      const Box& last = page->boxes[f.words.back()];
      double h = std::max(last.Height(), b.Height());
      double gap = b.x0 - last.x1;
      if (SameLine(last, b) && gap > -0.3 * h && gap < 1.0 * h) {
        f.words.push_back(i);
        f.box.Add(b);
        continue;
      }
    }
    page->frags.push_back({b, {i}});
  }
}

// The longest stretch of [top, bottom] not covered by the y-ranges of `cover` (sorted by y0).
std::pair<double, double> LongestFree(const std::vector<const Box*>& cover, double top,
                                      double bottom) {
  std::pair<double, double> best{top, top};
  double y = top;
  for (const Box* b : cover) {
    if (b->y0 - y > best.second - best.first) best = {y, b->y0};
    y = std::max(y, b->y1);
  }
  if (bottom - y > best.second - best.first) best = {y, bottom};
  return best;
}

struct Gutter {
  double x0, x1;
};

class ColumnFinder {
 public:
  ColumnFinder(const Page& page, const std::vector<size_t>& frags) : page_(page), frags_(frags) {
    bounds_ = page.frags[frags[0]].box;
    std::vector<double> heights;
    for (size_t f : frags) {
      bounds_.Add(page.frags[f].box);
      heights.push_back(page.frags[f].box.Height());
    }
    line_height_ = std::max(1.0, Median(heights));
    min_tall_ = std::max(3 * line_height_, 0.3 * bounds_.Height());
    std::sort(frags_.begin(), frags_.end(), [&](size_t a, size_t b) {
      return page.frags[a].box.y0 < page.frags[b].box.y0;
    });
  }

  std::optional<Gutter> Find() const {
    double width = bounds_.x1 - bounds_.x0;
    if (frags_.size() < 6 || width <= 0) return std::nullopt;
    int bins = static_cast<int>(std::clamp(width, 1.0, double{kMaxBins}));
    double bin_width = width / bins;
    std::vector<double> free(static_cast<size_t>(bins));
    for (int i = 0; i < bins; ++i) {
      double x = bounds_.x0 + i * bin_width;
      auto [top, bottom] = FreeStretch(x, x + bin_width);
      free[static_cast<size_t>(i)] = bottom - top;
    }
    std::optional<Gutter> best;
    double best_height = 0;
    for (int i = 0; i < bins;) {
      if (free[static_cast<size_t>(i)] < min_tall_) {
        ++i;
        continue;
      }
      int end = i;
      while (end < bins && free[static_cast<size_t>(end)] >= min_tall_) ++end;
      Gutter g{bounds_.x0 + i * bin_width, bounds_.x0 + end * bin_width};
      double height = 0;
      if (Valid(g, &height) && height > best_height) best = g, best_height = height;
      i = end;
    }
    return best;
  }

 private:
  // The longest vertical stretch of [x0, x1] that no fragment crosses.
  std::pair<double, double> FreeStretch(double x0, double x1) const {
    std::vector<const Box*> cover;
    for (size_t f : frags_) {
      const Box& b = page_.frags[f].box;
      if (b.x0 < x1 && b.x1 > x0) cover.push_back(&b);
    }
    return LongestFree(cover, bounds_.y0, bounds_.y1);
  }

  // A gutter is wide enough, tall enough, and has fragments on both sides along its free stretch.
  bool Valid(const Gutter& g, double* height) const {
    if (g.x1 - g.x0 < std::max(3.0, line_height_)) return false;
    auto [top, bottom] = FreeStretch(g.x0, g.x1);
    if (bottom - top < min_tall_) return false;
    int left = 0, right = 0;
    for (size_t f : frags_) {
      const Box& b = page_.frags[f].box;
      if (b.CenterY() <= top || b.CenterY() >= bottom) continue;
      if (b.x1 <= g.x0) ++left;
      if (b.x0 >= g.x1) ++right;
    }
    *height = bottom - top;
    return left >= 2 && right >= 2 && left + right >= 6;
  }

  const Page& page_;
  std::vector<size_t> frags_;
  Box bounds_;
  double line_height_ = 1;
  double min_tall_ = 0;
};

using Regions = std::vector<std::vector<size_t>>;

void Segment(const Page& page, const std::vector<size_t>& frags, int depth, Regions* out);

// Bands from top to bottom: stretches where the gutter is open (split into its two sides) and
// stretches where text crosses it (read whole).
void SplitAtGutter(const Page& page, const std::vector<size_t>& frags, const Gutter& g, int depth,
                   Regions* out) {
  std::vector<std::pair<double, double>> spans;  // merged y-ranges of fragments crossing g
  std::vector<size_t> sorted = frags;
  std::sort(sorted.begin(), sorted.end(),
            [&](size_t a, size_t b) { return page.frags[a].box.y0 < page.frags[b].box.y0; });
  for (size_t f : sorted) {
    const Box& b = page.frags[f].box;
    if (b.x0 >= g.x1 || b.x1 <= g.x0) continue;
    if (!spans.empty() && b.y0 <= spans.back().second) {
      spans.back().second = std::max(spans.back().second, b.y1);
    } else {
      spans.push_back({b.y0, b.y1});
    }
  }
  // Band 2k is the open stretch above span k, band 2k+1 is span k.
  std::vector<std::vector<size_t>> bands(spans.size() * 2 + 1);
  for (size_t f : sorted) {
    double cy = page.frags[f].box.CenterY();
    size_t k = 0;
    while (k < spans.size() && cy > spans[k].second) ++k;
    bool inside = k < spans.size() && cy >= spans[k].first;
    bands[2 * k + (inside ? 1 : 0)].push_back(f);
  }
  double middle = (g.x0 + g.x1) / 2;
  for (size_t i = 0; i < bands.size(); ++i) {
    if (bands[i].empty()) continue;
    if (i % 2 == 1) {
      Segment(page, bands[i], depth + 1, out);
      continue;
    }
    std::vector<size_t> left, right;
    for (size_t f : bands[i]) (page.frags[f].box.CenterX() < middle ? left : right).push_back(f);
    if (page.rtl) std::swap(left, right);
    if (!left.empty()) Segment(page, left, depth + 1, out);
    if (!right.empty()) Segment(page, right, depth + 1, out);
  }
}

void Segment(const Page& page, const std::vector<size_t>& frags, int depth, Regions* out) {
  std::optional<Gutter> gutter;
  if (depth < kMaxCutDepth && frags.size() <= kMaxFragmentsForColumns) {
    gutter = ColumnFinder(page, frags).Find();
  }
  if (gutter) {
    SplitAtGutter(page, frags, *gutter, depth, out);
  } else {
    out->push_back(frags);
  }
}

struct Line {
  Box box;
  std::vector<size_t> frags;
  std::string text;
};

// The fragment's words in reading order: left to right, or right to left on a right-to-left line
// (each word's characters are already in logical order).
std::string FragmentText(const Page& page, const Fragment& f, bool rtl) {
  std::vector<size_t> words = f.words;
  std::sort(words.begin(), words.end(),
            [&](size_t a, size_t b) { return page.boxes[a].x0 < page.boxes[b].x0; });
  if (rtl) std::reverse(words.begin(), words.end());
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) {
      size_t left = rtl ? words[i] : words[i - 1];
      size_t right = rtl ? words[i - 1] : words[i];
      double gap = page.boxes[right].x0 - page.boxes[left].x1;
      if (page.words[left].space_after || gap > 0.2 * page.boxes[left].Height()) out += ' ';
    }
    out += page.words[words[i]].text;
  }
  return out;
}

bool MostlyRtl(const Page& page, const std::vector<size_t>& word_ids) {
  int balance = 0;
  for (size_t w : word_ids) balance += page.words[w].direction;
  return balance < 0;
}

std::vector<Line> BuildLines(const Page& page, std::vector<size_t> frags) {
  std::sort(frags.begin(), frags.end(), [&](size_t a, size_t b) {
    return page.frags[a].box.CenterY() < page.frags[b].box.CenterY();
  });
  std::vector<Line> lines;
  for (size_t f : frags) {
    const Box& b = page.frags[f].box;
    if (!lines.empty() && SameLine(lines.back().box, b)) {
      lines.back().box.Add(b);
      lines.back().frags.push_back(f);
    } else {
      lines.push_back({b, {f}, ""});
    }
  }
  for (Line& line : lines) {
    std::vector<size_t> word_ids;
    for (size_t f : line.frags) {
      word_ids.insert(word_ids.end(), page.frags[f].words.begin(), page.frags[f].words.end());
    }
    bool rtl = MostlyRtl(page, word_ids);
    std::sort(line.frags.begin(), line.frags.end(), [&](size_t a, size_t b) {
      return rtl ? page.frags[a].box.x0 > page.frags[b].box.x0
                 : page.frags[a].box.x0 < page.frags[b].box.x0;
    });
    for (size_t f : line.frags) {
      if (!line.text.empty()) line.text += ' ';
      line.text += FragmentText(page, page.frags[f], rtl);
    }
  }
  return lines;
}

// Whether `line` starts a new paragraph after `prev`, given the region's typical spacing.
bool StartsParagraph(const Line& prev, const Line& line, double typical_gap, double margin,
                     bool left_aligned) {
  double h = std::min(prev.box.Height(), line.box.Height());
  double gap = line.box.y0 - prev.box.y1;
  if (gap > typical_gap + 0.6 * h) return true;
  double ratio = line.box.Height() / std::max(prev.box.Height(), 1.0);
  if (ratio > 1.3 || ratio < 1 / 1.3) return true;
  double indent = line.box.x0 - margin;
  double prev_indent = prev.box.x0 - margin;
  return left_aligned && indent > 0.8 * h && indent < 6 * h && prev_indent < 0.5 * h;
}

std::string RegionText(const Page& page, const std::vector<size_t>& frags) {
  std::vector<Line> lines = BuildLines(page, frags);
  std::vector<double> gaps;
  double margin = lines.empty() ? 0 : lines[0].box.x0;
  for (size_t i = 0; i < lines.size(); ++i) {
    margin = std::min(margin, lines[i].box.x0);
    if (i > 0) gaps.push_back(std::max(0.0, lines[i].box.y0 - lines[i - 1].box.y1));
  }
  int at_margin = 0;
  for (const Line& l : lines) at_margin += l.box.x0 - margin < 0.5 * l.box.Height() ? 1 : 0;
  bool left_aligned = lines.size() >= 3 && at_margin * 2 >= static_cast<int>(lines.size());
  double typical_gap = gaps.size() >= 2 ? Median(gaps) : 0;
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      bool para = StartsParagraph(lines[i - 1], lines[i], typical_gap, margin, left_aligned);
      out += para ? "\n\n" : "\n";
    }
    out += lines[i].text;
  }
  return out;
}

std::string LayoutRotation(const std::vector<LayoutWord>& words, int rotation) {
  Page page{words, {}, {}, false};
  page.boxes.resize(words.size());
  std::vector<size_t> order;
  for (size_t i = 0; i < words.size(); ++i) {
    if ((words[i].rotation & 3) != rotation || !Usable(words[i])) continue;
    page.boxes[i] = Sane(Upright(words[i]));
    order.push_back(i);
  }
  if (order.empty()) return "";
  page.rtl = MostlyRtl(page, order);
  BuildFragments(order, &page);
  std::vector<size_t> all(page.frags.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  Regions regions;
  Segment(page, all, 0, &regions);
  std::string out;
  for (const auto& region : regions) {
    std::string text = RegionText(page, region);
    if (text.empty()) continue;
    if (!out.empty()) out += "\n\n";
    out += text;
  }
  return out;
}

}  // namespace

std::string LayoutPageText(const std::vector<LayoutWord>& words) {
  std::string out;
  for (int rotation = 0; rotation < 4; ++rotation) {
    std::string text = LayoutRotation(words, rotation);
    if (text.empty()) continue;
    if (!out.empty()) out += "\n\n";
    out += text;
  }
  return out;
}

}  // namespace cloister::ingest
