#include "llama_text.h"

#include <algorithm>
#include <climits>

namespace cloister::generate {

std::vector<llama_token> Tokenize(const llama_vocab* vocab, std::string_view text, bool add_special,
                                  bool parse_special) {
  int32_t len = static_cast<int32_t>(std::min<size_t>(text.size(), INT32_MAX / 2));
  std::vector<llama_token> toks(static_cast<size_t>(len) + 4);
  int32_t n = llama_tokenize(vocab, text.data(), len, toks.data(),
                             static_cast<int32_t>(toks.size()), add_special, parse_special);
  if (n < 0) {
    toks.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), len, toks.data(), static_cast<int32_t>(toks.size()),
                       add_special, parse_special);
  }
  toks.resize(static_cast<size_t>(std::max(n, 0)));
  return toks;
}

std::string Piece(const llama_vocab* vocab, llama_token token) {
  char buf[256];
  int32_t n = llama_token_to_piece(vocab, token, buf, sizeof buf, 0, /*special=*/false);
  if (n >= 0) return std::string(buf, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(-n), '\0');
  n = llama_token_to_piece(vocab, token, big.data(), -n, 0, false);
  big.resize(static_cast<size_t>(std::max(n, 0)));
  return big;
}

std::vector<std::string> SpecialTokenTexts(const llama_vocab* vocab) {
  std::vector<std::string> out;
  const int32_t n = llama_vocab_n_tokens(vocab);
  for (llama_token t = 0; t < n; ++t) {
    int attr = llama_vocab_get_attr(vocab, t);
    if (!(attr & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_USER_DEFINED))) continue;
    const char* text = llama_vocab_get_text(vocab, t);
    // One-byte "specials" cannot be broken and are ordinary characters in practice.
    if (text && std::string_view(text).size() >= 2) out.emplace_back(text);
  }
  // Longest first, so "<|im_end|>" is broken before a shorter special it contains.
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string BreakSpecialTokens(std::string text, const std::vector<std::string>& specials) {
  static const std::string kZeroWidthSpace = "\xE2\x80\x8B";
  for (const auto& special : specials) {
    for (size_t at = text.find(special); at != std::string::npos; at = text.find(special, at)) {
      text.insert(at + 1, kZeroWidthSpace);
      at += 1 + kZeroWidthSpace.size();
    }
  }
  return text;
}

Result<std::string> RenderChat(const std::string& tmpl, const std::vector<ChatMessage>& messages,
                               bool add_assistant) {
  std::vector<llama_chat_message> chat;
  size_t chars = 0;
  for (const auto& m : messages) {
    chat.push_back({m.role.c_str(), m.content.c_str()});
    chars += m.role.size() + m.content.size();
  }
  std::string out(2 * chars + 256, '\0');
  int32_t n = llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant,
                                        out.data(), static_cast<int32_t>(out.size()));
  if (n < 0) {
    return InvalidArgument("llama.cpp does not support the chat template \"" + tmpl.substr(0, 60) +
                           (tmpl.size() > 60 ? "...\"" : "\"") +
                           "; name a built-in one (chatml, llama3, phi3, ...)");
  }
  if (static_cast<size_t>(n) > out.size()) {
    out.assign(static_cast<size_t>(n), '\0');
    n = llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant, out.data(),
                                  n);
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

SamplerPtr MakeSampler(const llama_vocab* vocab, const GenerateOptions& o) {
  SamplerPtr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
  if (o.repeat_penalty != 1.0f && o.repeat_penalty > 0.0f && o.repeat_last_n != 0) {
    llama_sampler_chain_add(
        chain.get(), llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), o.repeat_last_n,
                                                  o.repeat_penalty, 0, 0));
  }
  if (o.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (o.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(o.top_k));
  if (o.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(o.top_p, 1));
  if (o.min_p > 0.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(o.min_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(o.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(o.seed));
  return chain;
}

}  // namespace cloister::generate
