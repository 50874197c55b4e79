// Writes a tiny random-weight BERT embedding model (GGUF, 64 dimensions, bge's tokenizer) for the
// OpenAI client test, which has no other way to build one:
//
//   make_embedding_model OUT.gguf
//
// The same model tests/fixtures' TinyEmbeddingModel gives the C++ tests.
#include <cstdio>

#include "cloister/llm/synthetic.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_embedding_model OUT.gguf\n");
    return 1;
  }
  auto spec = cloister::llm::SyntheticModelSpec::TinyBert(
      std::filesystem::path(CLOISTER_VOCAB_DIR) / "ggml-vocab-bert-bge.gguf");
  spec.n_embd = 64;
  cloister::Status st = cloister::llm::WriteSyntheticModel(spec, argv[1]);
  if (!st.ok()) {
    std::fprintf(stderr, "make_embedding_model: %s\n", st.ToString().c_str());
    return 2;
  }
  return 0;
}
