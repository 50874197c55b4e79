// Markdown to readable text, for text.cpp. Private to ingest.
#pragma once

#include <string>
#include <string_view>

namespace cloister::ingest {

// One line of Markdown as a reader would see it: emphasis and code markers removed, links and
// images reduced to their text, backslash escapes resolved. Linear in the line's length.
std::string StripInlineMarkdown(std::string_view line);

// True when `line` is an ATX heading, with its text in `text` ("## Setup ##" -> "Setup").
// Up to three spaces of indentation are allowed, as in CommonMark.
bool ParseAtxHeading(std::string_view line, std::string_view* text);

// "===" or "---" under a paragraph line (setext heading underline).
bool IsSetextUnderline(std::string_view line);

// "---", "***", "___" (spaces allowed): a thematic break, read as a paragraph break.
bool IsThematicBreak(std::string_view line);

// Opening or closing fence of a fenced code block: three or more backticks or tildes. `fence`
// receives the fence characters so the closing fence can be matched.
bool IsFence(std::string_view line, std::string_view* fence);

// "[label]: https://..." link reference definitions, which a reader never sees.
bool IsLinkDefinition(std::string_view line);

}  // namespace cloister::ingest
