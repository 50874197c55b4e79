#include "cloister/llm/model_info.h"

#include <gtest/gtest.h>

#include "cloister/core/files.h"
#include "cloister/llm/synthetic.h"
#include "fixtures/fixtures.h"

namespace cloister::llm {
namespace {

TEST(InspectModelTest, TinyBertIsAnEmbeddingModelWithItsDimension) {
  auto info = InspectModel(fixtures::TinyEmbeddingModel());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, ModelKind::kEmbedding);
  EXPECT_EQ(info->architecture, "bert");
  EXPECT_EQ(info->embedding_length, static_cast<uint32_t>(fixtures::kTinyEmbeddingDimension));
  EXPECT_EQ(info->pooling, "cls");
  EXPECT_EQ(info->quantization, "F32");
  EXPECT_GT(info->parameters, 0u);
  EXPECT_GT(info->size_bytes, 0u);
}

TEST(InspectModelTest, TinyLlamaIsAChatModel) {
  auto info = InspectModel(fixtures::TinyChatModel());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, ModelKind::kChat);
  EXPECT_EQ(info->architecture, "llama");
  EXPECT_EQ(info->name, "cloister-tiny-llama");
}

TEST(InspectModelTest, StoriesModelIsAChatModelThatLoads) {
  auto info = InspectModel(fixtures::StoriesModel());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, ModelKind::kChat);
  EXPECT_EQ(info->architecture, "llama");
  EXPECT_TRUE(CheckModelLoads(fixtures::StoriesModel()).ok());
}

TEST(InspectModelTest, QuantizedModelReportsItsQuantization) {
  fixtures::TempDir dir;
  ASSERT_TRUE(QuantizeModel(fixtures::TinyChatModel(), dir / "q8.gguf", "Q8_0").ok());
  auto info = InspectModel(dir / "q8.gguf");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->quantization, "Q8_0");
  EXPECT_LT(info->size_bytes, InspectModel(fixtures::TinyChatModel())->size_bytes);
  EXPECT_TRUE(CheckModelLoads(dir / "q8.gguf").ok());
}

TEST(InspectModelTest, MissingFileIsNotFound) {
  EXPECT_EQ(InspectModel("/nonexistent/model.gguf").status().code(), StatusCode::kNotFound);
}

TEST(InspectModelTest, NonGgufFileIsInvalidArgumentNamingTheFile) {
  fixtures::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "fake.gguf", "this is not a model").ok());
  auto info = InspectModel(dir / "fake.gguf");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(info.status().message().find("fake.gguf"), std::string::npos);
}

TEST(CheckModelLoadsTest, TruncatedModelDoesNotLoad) {
  fixtures::TempDir dir;
  auto bytes = ReadFile(fixtures::TinyChatModel());
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "cut.gguf", bytes->substr(0, bytes->size() / 2)).ok());
  EXPECT_EQ(CheckModelLoads(dir / "cut.gguf").code(), StatusCode::kFailedPrecondition);
}

TEST(ScanModelsTest, ListsGgufFilesSortedAndReportsUnreadableOnes) {
  fixtures::TempDir dir;
  std::filesystem::copy_file(fixtures::TinyEmbeddingModel(), dir / "b-embed.gguf");
  std::filesystem::copy_file(fixtures::TinyChatModel(), dir / "a-chat.gguf");
  ASSERT_TRUE(WriteFileAtomic(dir / "c-broken.gguf", "GGUF?").ok());
  ASSERT_TRUE(WriteFileAtomic(dir / "notes.txt", "ignored").ok());
  ModelScan scan = ScanModels(dir.path());
  ASSERT_EQ(scan.models.size(), 2u);
  EXPECT_EQ(scan.models[0].path.filename(), "a-chat.gguf");
  EXPECT_EQ(scan.models[1].kind, ModelKind::kEmbedding);
  ASSERT_EQ(scan.errors.size(), 1u);
  EXPECT_EQ(scan.errors[0].first.filename(), "c-broken.gguf");
}

TEST(ScanModelsTest, MissingFolderIsEmpty) {
  ModelScan scan = ScanModels("/nonexistent/models");
  EXPECT_TRUE(scan.models.empty());
  EXPECT_TRUE(scan.errors.empty());
}

}  // namespace
}  // namespace cloister::llm
