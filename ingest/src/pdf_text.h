// Poppler text to UTF-8 and positioned words. Private to ingest (pdf*.cpp).
#pragma once

#include <poppler-global.h>
#include <poppler-page.h>

#include <string>
#include <string_view>
#include <vector>

#include "pdf_layout.h"

namespace cloister::ingest {

// UTF-16 from poppler as UTF-8; unpaired surrogates (broken ToUnicode maps produce them) become
// U+FFFD, so the result is always valid UTF-8. NUL characters are dropped.
std::string ToUtf8(const poppler::ustring& text);

// `text` with every invalid UTF-8 sequence replaced by U+FFFD (for tesseract's output).
std::string ValidUtf8(std::string_view text);

// The page's words with their boxes, in poppler's order. A right-to-left word whose glyphs were
// drawn left to right (visual order, as poppler stores them) is put into logical order, with
// digit runs kept left to right and brackets mirrored. May throw what poppler throws
// (std::bad_alloc): the caller turns that into a warning for the page.
std::vector<LayoutWord> PageWords(const poppler::page& page);

}  // namespace cloister::ingest
