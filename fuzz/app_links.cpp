// What web links from app besides the accounts, for the HTTP target, whose knowledge base is
// canned (fuzz_http.cpp): app's knowledge_base.cpp would bring in llama.cpp and FAISS. A copy of
// app's SearchDefaults; the fuzzer needs the same shape of options, not the same values.
#include "cloister/app/knowledge_base.h"

namespace cloister::app {

SearchOptions SearchDefaults(const Config& config) {
  SearchOptions o;
  o.rrf_k = config.retrieval.rrf_k;
  o.vector_weight = config.retrieval.vector_weight;
  o.lexical_weight = config.retrieval.lexical_weight;
  return o;
}

}  // namespace cloister::app
