#include "cloister/web/audit_log.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "fixtures/fixtures.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;

std::vector<Poco::JSON::Object::Ptr> Lines(const fs::path& file) {
  std::vector<Poco::JSON::Object::Ptr> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    out.push_back(Poco::JSON::Parser().parse(line).extract<Poco::JSON::Object::Ptr>());
  }
  return out;
}

TEST(AuditLogTest, EachEventIsOneJsonLineWithWhoWhatAndTheCitedDocuments) {
  fixtures::TempDir dir;
  auto audit = AuditLog::Open(dir / "audit" / "audit.log");
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  (*audit)->Record({.action = "ask",
                    .user = "ann",
                    .auth = "api_key",
                    .key = "ck_0a1b2c3d",
                    .client = "10.0.0.7",
                    .status = 200,
                    .text = "When is the rent due?\n{\"action\":\"forged\"}",
                    .documents = {{31, "Lease 2024"}, {7, "<img src=x>"}},
                    .details = {{"mode", "generated"}}});
  (*audit)->Record({.action = "search", .auth = "none", .client = "127.0.0.1", .status = 200,
                    .text = "rent"});
  auto lines = Lines(dir / "audit" / "audit.log");
  ASSERT_EQ(lines.size(), 2u) << "a newline inside a question must not start a line of its own";
  auto ask = lines[0];
  EXPECT_EQ(ask->getValue<std::string>("action"), "ask");
  EXPECT_EQ(ask->getValue<std::string>("user"), "ann");
  EXPECT_EQ(ask->getValue<std::string>("auth"), "api_key");
  EXPECT_EQ(ask->getValue<std::string>("key"), "ck_0a1b2c3d");
  EXPECT_EQ(ask->getValue<std::string>("client"), "10.0.0.7");
  EXPECT_EQ(ask->getValue<int>("status"), 200);
  EXPECT_EQ(ask->getValue<std::string>("text"), "When is the rent due?\n{\"action\":\"forged\"}");
  EXPECT_EQ(ask->getValue<std::string>("mode"), "generated");
  auto documents = ask->getArray("documents");
  ASSERT_EQ(documents->size(), 2u);
  EXPECT_EQ(documents->getObject(0)->getValue<int64_t>("id"), 31);
  EXPECT_EQ(documents->getObject(1)->getValue<std::string>("title"), "<img src=x>");
  EXPECT_EQ(ask->getValue<std::string>("time").size(), std::string("2026-12-05T12:30:00.123Z").size());
  EXPECT_TRUE(lines[1]->isNull("user")) << "authentication off: nobody in particular";
  EXPECT_FALSE(lines[1]->has("documents"));
}

TEST(AuditLogTest, OnlyItsOwnerCanReadIt) {
  fixtures::TempDir dir;
  auto audit = AuditLog::Open(dir / "audit" / "audit.log");
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  struct stat file{}, folder{};
  ASSERT_EQ(stat((dir / "audit" / "audit.log").c_str(), &file), 0);
  ASSERT_EQ(stat((dir / "audit").c_str(), &folder), 0);
  EXPECT_EQ(file.st_mode & 0777, 0600u);
  EXPECT_EQ(folder.st_mode & 0777, 0700u);
}

TEST(AuditLogTest, RotatesBySizeAndKeepsTheConfiguredNumberOfOldFiles) {
  fixtures::TempDir dir;
  auto audit = AuditLog::Open(dir / "audit.log", {.rotate_bytes = 2000, .keep = 3});
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  for (int i = 0; i < 200; ++i) {
    (*audit)->Record({.action = "search", .user = "ann", .text = "question number " + std::to_string(i)});
  }
  audit->reset();  // closes the file
  EXPECT_TRUE(fs::exists(dir / "audit.log.0"));
  EXPECT_LE(fs::file_size(dir / "audit.log"), 2000u + 200);
  size_t files = 0, lines = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("audit.log", 0) != 0) continue;
    ++files;
    lines += Lines(entry.path()).size();  // every line of every file parses
  }
  EXPECT_LE(files, 4u) << "audit.log and at most 3 rotated files";
  EXPECT_GT(lines, 20u);
  // The newest line is in audit.log, the one before it is not lost.
  auto current = Lines(dir / "audit.log");
  ASSERT_FALSE(current.empty());
  EXPECT_EQ(current.back()->getValue<std::string>("text"), "question number 199");
}

TEST(AuditLogTest, ConcurrentEventsNeverInterleaveWithinALine) {
  fixtures::TempDir dir;
  auto audit = AuditLog::Open(dir / "audit.log");
  ASSERT_TRUE(audit.ok()) << audit.status().ToString();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        (*audit)->Record({.action = "ask", .user = "user" + std::to_string(t),
                          .text = std::string(300, static_cast<char>('a' + t))});
      }
    });
  }
  for (auto& th : threads) th.join();
  auto lines = Lines(dir / "audit.log");
  EXPECT_EQ(lines.size(), 800u);
}

TEST(AuditLogTest, AnUnwritablePlaceIsAClearError) {
  fixtures::TempDir dir;
  std::ofstream(dir / "file") << "x";
  auto audit = AuditLog::Open(dir / "file" / "audit.log");
  ASSERT_FALSE(audit.ok());
  EXPECT_EQ(audit.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(audit.status().message().find("audit"), std::string::npos);
}

}  // namespace
}  // namespace cloister::web
