#include "cloister/llm/synthetic.h"

#include <gtest/gtest.h>

#include "cloister/llm/model_info.h"
#include "fixtures/fixtures.h"

namespace cloister::llm {
namespace {

TEST(WriteSyntheticModelTest, UnknownArchitectureIsInvalidArgument) {
  fixtures::TempDir dir;
  auto spec = SyntheticModelSpec::TinyBert(fixtures::VocabDir() / "ggml-vocab-bert-bge.gguf");
  spec.architecture = "mamba";
  EXPECT_EQ(WriteSyntheticModel(spec, dir / "m.gguf").code(), StatusCode::kInvalidArgument);
}

TEST(WriteSyntheticModelTest, HeadsThatDoNotDivideTheWidthAreInvalidArgument) {
  fixtures::TempDir dir;
  auto spec = SyntheticModelSpec::TinyLlama(fixtures::VocabDir() / "ggml-vocab-llama-spm.gguf");
  spec.n_head = 5;
  EXPECT_EQ(WriteSyntheticModel(spec, dir / "m.gguf").code(), StatusCode::kInvalidArgument);
}

TEST(WriteSyntheticModelTest, MissingVocabularyIsNotFound) {
  fixtures::TempDir dir;
  auto spec = SyntheticModelSpec::TinyBert(dir / "no-vocab.gguf");
  EXPECT_EQ(WriteSyntheticModel(spec, dir / "m.gguf").code(), StatusCode::kNotFound);
}

TEST(WriteSyntheticModelTest, F16WeightsHalveTheFileAndStillLoad) {
  fixtures::TempDir dir;
  auto spec = SyntheticModelSpec::TinyLlama(fixtures::VocabDir() / "ggml-vocab-llama-spm.gguf");
  spec.f16_weights = true;
  ASSERT_TRUE(WriteSyntheticModel(spec, dir / "f16.gguf").ok());
  auto info = InspectModel(dir / "f16.gguf");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->quantization, "F16");
  EXPECT_LT(info->size_bytes, InspectModel(fixtures::TinyChatModel())->size_bytes);
  EXPECT_TRUE(CheckModelLoads(dir / "f16.gguf").ok());
}

TEST(QuantizeModelTest, UnknownTypeIsInvalidArgument) {
  fixtures::TempDir dir;
  EXPECT_EQ(QuantizeModel(fixtures::TinyChatModel(), dir / "q.gguf", "Q3_FANCY").code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cloister::llm
