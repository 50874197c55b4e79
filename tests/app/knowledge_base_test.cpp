#include "cloister/app/knowledge_base.h"

#include <gtest/gtest.h>

#include "cloister/core/files.h"
#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

Config ConfigIn(const fixtures::TempDir& dir) {
  Config c;
  c.data_dir = dir / "data";
  c.models_dir = dir / "models";
  return c;
}

TEST(KnowledgeBaseTest, OpensAnEmptyDataFolderAndReportsLexicalExtractiveMode) {
  fixtures::TempDir dir;
  auto kb = KnowledgeBase::Open(ConfigIn(dir));
  ASSERT_TRUE(kb.ok()) << kb.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir / "data" / "cloister.db"));
  auto s = (*kb)->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->documents, 0);
  EXPECT_EQ(s->chunks, 0);
  EXPECT_EQ(s->retrieval_mode, "lexical");
  EXPECT_EQ(s->answer_mode, "extractive");
  EXPECT_FALSE(s->embedding_model.has_value());
  EXPECT_EQ(s->index_kind, "none");
  EXPECT_EQ(s->jobs_by_state.count("queued"), 1u);
}

TEST(KnowledgeBaseTest, ModelsInTheFolderSwitchTheModesAndAreNamed) {
  fixtures::TempDir dir;
  std::filesystem::create_directories(dir / "models");
  std::filesystem::copy_file(fixtures::TinyEmbeddingModel(), dir / "models" / "embed.gguf");
  std::filesystem::copy_file(fixtures::TinyChatModel(), dir / "models" / "chat.gguf");
  auto kb = KnowledgeBase::Open(ConfigIn(dir));
  ASSERT_TRUE(kb.ok());
  auto s = (*kb)->Status(cloister::app::Caller::Everything());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->retrieval_mode, "hybrid");
  EXPECT_EQ(s->answer_mode, "generated");
  ASSERT_TRUE(s->embedding_model.has_value());
  EXPECT_EQ(s->embedding_model->path.filename(), "embed.gguf");
  EXPECT_EQ(s->chat_model->path.filename(), "chat.gguf");
}

TEST(KnowledgeBaseTest, DataPathThatIsAFileIsFailedPrecondition) {
  fixtures::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "data", "not a folder").ok());
  auto kb = KnowledgeBase::Open(ConfigIn(dir));
  ASSERT_FALSE(kb.ok());
  EXPECT_EQ(kb.status().code(), StatusCode::kFailedPrecondition);
}

TEST(KnowledgeBaseTest, CorruptCatalogIsRefusedWithoutBeingOverwritten) {
  fixtures::TempDir dir;
  std::filesystem::create_directories(dir / "data");
  std::string junk(8192, 'j');
  ASSERT_TRUE(WriteFileAtomic(dir / "data" / "cloister.db", junk).ok());
  auto kb = KnowledgeBase::Open(ConfigIn(dir));
  ASSERT_FALSE(kb.ok());
  EXPECT_NE(kb.status().message().find("cloister.db"), std::string::npos) << kb.status().ToString();
  EXPECT_EQ(*ReadFile(dir / "data" / "cloister.db"), junk);
}

TEST(ListModelsTest, LoadsEachModelAndReportsTheOnesThatDoNot) {
  fixtures::TempDir dir;
  std::filesystem::copy_file(fixtures::TinyEmbeddingModel(), dir / "a.gguf");
  ASSERT_TRUE(WriteFileAtomic(dir / "b.gguf", "garbage").ok());
  auto models = ListModels(dir.path(), /*try_load=*/true);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].kind, "embedding");
  EXPECT_EQ(models[0].loads, std::optional<bool>(true));
  EXPECT_EQ(models[0].dimension, static_cast<uint32_t>(fixtures::kTinyEmbeddingDimension));
  EXPECT_EQ(models[1].loads, std::optional<bool>(false));
  EXPECT_FALSE(models[1].error.empty());
}

}  // namespace
}  // namespace cloister::app
