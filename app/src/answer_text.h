// The text side of answering, free of models: the prompt with its numbered sources, the
// evidence test, citation markers, and extractive answers. Private to app.
//
// Sources reach the model as numbered blocks:
//
//   <source n="2" document="Lease 2024.pdf" page="3">
//   ...passage...
//   </source>
//
// Document-derived text (passages, titles, senders) can neither close a block nor open one:
// '<' and '>' in it become '‹' and '›', and '"' in attribute values becomes '”'. The system
// prompt tells the model that block content is quoted material, never instructions.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cloister/app/knowledge_base.h"

namespace cloister::app {

// The fixed system prompt: answer only from the numbered sources, cite them as [n].
std::string_view AnswerSystemPrompt();

// The reply when the documents hold nothing relevant (the model is not asked).
std::string_view NoEvidenceAnswer();

// `text` made safe to quote inside a source block.
std::string EscapeSourceText(std::string_view text);

// One block as the model sees it, numbered `n`.
std::string SourceBlock(int n, const SearchHit& hit);

// The user message: the source blocks in order (numbered from 1), then the question.
std::string SourcesMessage(const std::vector<SearchHit>& sources, std::string_view question);

// Passages that fit `budget` tokens as `count_tokens` measures their blocks, best first: a
// passage too long for what is left is skipped and shorter ones after it may still go in.
std::vector<SearchHit> FitSources(const std::vector<SearchHit>& ranked, int64_t budget,
                                  const std::function<int64_t(std::string_view)>& count_tokens);

// How strongly text supports a question: the share of the question's content words, weighted
// by rarity in the collection (inverse document frequency), that it contains. Common function
// words of English questions ("what", "is") are not content words; every other word counts, so
// a rare word missing from the text (a name the documents never mention) weighs heavily.
class EvidenceScorer {
 public:
  // `folded_question`: the question's words as storage::FoldedWords gives them;
  // `frequencies`: chunks holding each of them, out of `chunks`.
  EvidenceScorer(const std::vector<std::string>& folded_question,
                 const std::map<std::string, int64_t>& frequencies, int64_t chunks);
  // 0 to 1, for a text given by its folded words.
  double Coverage(const std::vector<std::string>& folded_text) const;
  bool has_content_words() const { return total_ > 0; }

 private:
  std::map<std::string, double> weights_;  // content word -> idf
  double total_ = 0;
};

// The markers of a generated answer resolved against `source_count` sources: "[2, 3]" becomes
// "[2][3]", numbers outside 1..source_count are dropped (a marker left empty goes entirely),
// and the answer is split into sentences, each with the sources it cites (markers opening a
// sentence belong to the one before, as in "... in 2024. [2] The ...").
struct ResolvedAnswer {
  std::string text;                      // the answer with only valid markers
  std::vector<AnswerSentence> sentences;
  std::vector<int> cited;                // distinct source numbers, in order of first citation
};
ResolvedAnswer ResolveCitations(std::string_view raw, int source_count);

// Up to `max_sentences` sentences of `passages` (numbered from 1) that best cover the question,
// best first, each as "sentence [n]". Sentences covering nothing, or much less than
// the best one (three quarters), are never picked.
ResolvedAnswer ExtractAnswer(const std::vector<SearchHit>& passages, const EvidenceScorer& scorer,
                             const std::function<std::vector<std::string>(std::string_view)>& fold,
                             int max_sentences);

}  // namespace cloister::app
