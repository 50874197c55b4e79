#include "cloister/app/settings.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "fixtures/fixtures.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

fs::path Write(const fixtures::TempDir& dir, const std::string& text) {
  fs::path file = dir / "cloister.conf";
  std::ofstream(file) << text;
  return file;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SettingsTest, AFileSetsWhatItNamesAndLeavesTheRest) {
  fixtures::TempDir dir;
  Config config;
  auto file = Write(dir,
                    "; Cloister\n"
                    "[paths]\n"
                    "data_dir = /var/lib/cloister\n"
                    "\n"
                    "[Server]\n"
                    "  PORT = 9090  \n"
                    "auth = yes\n"
                    "# a comment\n"
                    "[ingest]\n"
                    "pdf_passwords = first, second ,\n"
                    "chunk_overlap = 0.2\n"
                    "[retrieval]\n"
                    "query_prefix = query: \n");
  ASSERT_TRUE(ApplyConfigFile(config, file).ok());
  EXPECT_EQ(config.data_dir, "/var/lib/cloister");
  EXPECT_EQ(config.port, 9090);
  EXPECT_TRUE(config.auth);
  EXPECT_EQ(config.ingest.pdf_passwords, (std::vector<std::string>{"first", "second"}));
  EXPECT_DOUBLE_EQ(config.ingest.chunk_overlap, 0.2);
  EXPECT_EQ(config.retrieval.query_prefix, "query:");
  EXPECT_EQ(config.models_dir, Config{}.models_dir) << "what the file does not name keeps its default";
  EXPECT_EQ(config.answer.slots, Config{}.answer.slots);
}

TEST(SettingsTest, EveryMistakeIsReportedWithItsLineAndKey) {
  fixtures::TempDir dir;
  Config config;
  auto file = Write(dir,
                    "[server]\n"           // 1
                    "port = 80800\n"       // 2: out of range
                    "prot = 8080\n"        // 3: misspelt
                    "[answer\n"            // 4: broken section
                    "[answers]\n"          // 5: unknown section
                    "slots = 4\n"          // 6: in an unknown section
                    "[ingest]\n"           // 7
                    "ocr = maybe\n"        // 8: not a boolean
                    "just some words\n");  // 9: not a setting
  auto problems = ReadConfigFile(config, file);
  ASSERT_EQ(problems.size(), 7u);
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_EQ(problems[0].key, "server.port");
  EXPECT_NE(problems[0].message.find("0 to 65535"), std::string::npos) << problems[0].message;
  EXPECT_EQ(problems[1].line, 3);
  EXPECT_NE(problems[1].message.find("did you mean 'server.port'"), std::string::npos) << problems[1].message;
  EXPECT_EQ(problems[2].line, 4);
  EXPECT_EQ(problems[3].line, 5);
  EXPECT_NE(problems[3].message.find("[answers]"), std::string::npos);
  EXPECT_EQ(problems[4].line, 6);
  EXPECT_EQ(problems[4].key, "answers.slots");
  EXPECT_EQ(problems[5].line, 8);
  EXPECT_EQ(problems[5].key, "ingest.ocr");
  EXPECT_EQ(problems[6].line, 9);
  EXPECT_EQ(problems[6].key, "");
}

TEST(SettingsTest, ApplyConfigFileNamesTheFileLineAndKeyOfTheFirstMistake) {
  fixtures::TempDir dir;
  Config config;
  auto file = Write(dir, "[answer]\nslots = 4\ntemperature = hot\n");
  Status s = ApplyConfigFile(config, file);
  ASSERT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(file.string() + ":3: answer.temperature needs a number from 0 to 2, got 'hot'"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(ApplyConfigFile(config, dir / "missing.conf").code(), StatusCode::kNotFound);
}

TEST(SettingsTest, TheEnvironmentSetsSettingsAndIgnoresOtherCloisterVariables) {
  Config config;
  std::vector<std::string> vars = {"CLOISTER_SERVER_PORT=7070", "CLOISTER_LOG=debug",
                                   "CLOISTER_CHAT_API_KEY=secret", "CLOISTER_ANSWER_MAX_TOKENS=64",
                                   "HOME=/root"};
  std::vector<char*> env;
  for (auto& v : vars) env.push_back(v.data());
  env.push_back(nullptr);
  ASSERT_TRUE(ApplyEnvironment(config, env.data()).ok());
  EXPECT_EQ(config.port, 7070);
  EXPECT_EQ(config.answer.max_tokens, 64u);

  std::string bad = "CLOISTER_INGEST_WORKERS=many";
  char* bad_env[] = {bad.data(), nullptr};
  Status s = ApplyEnvironment(config, bad_env);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("CLOISTER_INGEST_WORKERS"), std::string::npos) << s.message();
}

// The file we ship and the documentation list every setting, at its default, and nothing else.
TEST(SettingsTest, TheShippedFileAndTheDocsNameEverySettingAtItsDefault) {
  fs::path source = CLOISTER_SOURCE_DIR;
  std::string shipped = ReadAll(source / "deploy" / "cloister.conf");
  std::string docs = ReadAll(source / "docs" / "configuration.md");
  // Uncommented, the shipped file's settings are valid and change nothing but the paths.
  fixtures::TempDir dir;
  std::string uncommented = std::regex_replace(shipped, std::regex(R"(^; ([a-z_]+ =))", std::regex::multiline), "$1");
  auto file = Write(dir, uncommented);
  Config config;
  auto problems = ReadConfigFile(config, file);
  for (const auto& p : problems) ADD_FAILURE() << "deploy/cloister.conf:" << p.line << ": " << p.message;
  for (const auto& s : DescribeSettings(Config{})) {
    std::string key = s.name.substr(s.name.find('.') + 1);
    std::string section = s.name.substr(0, s.name.find('.'));
    bool named = shipped.find("; " + key + " =") != std::string::npos ||
                 std::regex_search(shipped, std::regex("(^|\n)" + key + " ="));
    EXPECT_TRUE(named) << s.name << " is not in deploy/cloister.conf";
    EXPECT_NE(docs.find("`" + s.name + "`"), std::string::npos) << s.name << " is not in docs/configuration.md";
    if (section != "paths") {
      auto in_file = DescribeSettings(config);
      auto it = std::find_if(in_file.begin(), in_file.end(), [&](const SettingInfo& i) { return i.name == s.name; });
      ASSERT_NE(it, in_file.end());
      EXPECT_EQ(it->value, s.value) << s.name << ": deploy/cloister.conf's value is not the default";
    }
  }
}

}  // namespace
}  // namespace cloister::app
