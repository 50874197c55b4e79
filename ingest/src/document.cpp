#include "cloister/ingest/document.h"

namespace cloister::ingest {

const std::string& ParsedDocument::Meta(const std::string& key) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : metadata) {
    if (k == key) return v;
  }
  return kEmpty;
}

size_t TextBytes(const ParsedDocument& doc) {
  size_t n = 0;
  for (const auto& b : doc.blocks) n += b.text.size();
  for (const auto& c : doc.children) n += TextBytes(c);
  return n;
}

}  // namespace cloister::ingest
