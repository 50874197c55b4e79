#include "text_stream.h"

#include <algorithm>

#include "cloister/core/utf8.h"

namespace cloister::generate {
namespace {

// Bytes at the end of `s` that begin a UTF-8 character not yet complete.
size_t IncompleteUtf8Tail(const std::string& s) {
  for (size_t back = 1; back <= std::min<size_t>(4, s.size()); ++back) {
    unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

// Longest proper prefix of `stop` that `s` ends with.
size_t PartialStopTail(const std::string& s, const std::string& stop) {
  for (size_t k = std::min(s.size(), stop.size() - 1); k > 0; --k) {
    if (s.compare(s.size() - k, k, stop, 0, k) == 0) return k;
  }
  return 0;
}

}  // namespace

TextStream::TextStream(std::vector<std::string> stops) {
  for (auto& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string TextStream::Push(std::string_view piece) {
  if (stopped_) return {};
  held_ += piece;
  // Emitted text never holds the start of a stop string (it would have been held back), so any
  // occurrence lies within held_.
  size_t cut = std::string::npos;
  for (const auto& stop : stops_) cut = std::min(cut, held_.find(stop));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = ToValidUtf8(std::string_view(held_).substr(0, cut));
    held_.clear();
    return out;
  }
  size_t emit = held_.size() - HeldBackLength();
  std::string out = ToValidUtf8(std::string_view(held_).substr(0, emit));
  held_.erase(0, emit);
  return out;
}

std::string TextStream::Flush() {
  std::string out = ToValidUtf8(held_);  // a character the model never finished: U+FFFD
  held_.clear();
  return out;
}

size_t TextStream::HeldBackLength() const {
  size_t keep = IncompleteUtf8Tail(held_);
  for (const auto& stop : stops_) keep = std::max(keep, PartialStopTail(held_, stop));
  return keep;
}

}  // namespace cloister::generate
