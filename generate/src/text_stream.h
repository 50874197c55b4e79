// Decoded pieces -> text safe to hand to a client: never a partial stop string, never half a
// UTF-8 character, never a byte that is not UTF-8 (a model can write any bytes: each byte that
// does not start a well-formed character comes out as U+FFFD). Private to generate/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cloister::generate {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops = {});

  // Adds a decoded piece and returns the text that can be emitted now (maybe empty). When a stop
  // string appears, returns the text before it, drops the rest and sets stopped().
  std::string Push(std::string_view piece);
  // At the end of generation: what was held back (an unfinished stop prefix is ordinary text).
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  size_t HeldBackLength() const;

  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace cloister::generate
