// Reading order of a PDF page from its positioned words. Private to ingest; free of poppler types
// so it can be tested with made-up pages.
//
//   std::vector<LayoutWord> words = ...;   // one per poppler text box
//   std::string text = LayoutPageText(words);
//
// Words are grouped into line fragments; the page is cut at vertical gutters (a strip of
// whitespace no fragment crosses over a tall stretch of the page) into columns, which are read
// one after the other, top to bottom, with text that spans the gutter (titles, wide figures,
// footers) read in its place above, between or below the column stretches. Cuts recurse, so
// three columns or a two-column block inside a column work too. Lines are joined with '\n';
// paragraphs (a larger vertical gap, an indented first line, a change of font size) and
// separate regions with "\n\n". Text in other directions (rotated labels) follows, region by
// region. Pages written mostly in right-to-left scripts read their columns and the words of
// each line from right to left.
#pragma once

#include <string>
#include <vector>

namespace cloister::ingest {

struct LayoutWord {
  std::string text;  // UTF-8 in logical order
  // Bounding box in points, origin at the top left of the page, y growing downwards.
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool space_after = false;  // the PDF separates it from the next word on the line
  int rotation = 0;          // 0..3: writing direction turned clockwise by rotation * 90 degrees
  int direction = 0;         // +1 left-to-right script, -1 right-to-left script, 0 neither
};

// The page's text in reading order; "" when there are no words. Never throws for any input
// (non-finite or degenerate boxes are tolerated); the cost is O(n log n) in the words plus a
// column search bounded by the page's width.
std::string LayoutPageText(const std::vector<LayoutWord>& words);

}  // namespace cloister::ingest
