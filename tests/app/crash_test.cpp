// Crash safety: the real binary killed with SIGKILL while it ingests, while it saves the vector
// index and while it migrates the catalog; started again, it has lost and duplicated nothing.
// Failpoints (core/failpoint.h) put the kill exactly between two writes; a kill at arbitrary
// moments covers the places in between.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cloister/app/knowledge_base.h"
#include "cloister/storage/catalog.h"
#include "cloister/storage/schema.h"
#include "cloister/storage/sqlite.h"
#include "fixtures/fixtures.h"

extern char** environ;

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// Starts `cloister args...` with `failpoint` armed (if any), stdout and stderr to /dev/null.
pid_t Spawn(const std::vector<std::string>& args, const std::string& failpoint = "") {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    if (std::string(*e).rfind("CLOISTER_FAILPOINT=", 0) != 0) env_strings.emplace_back(*e);
  }
  if (!failpoint.empty()) env_strings.push_back("CLOISTER_FAILPOINT=" + failpoint);
  std::vector<char*> env;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::vector<std::string> argv_strings = {CLOISTER_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, CLOISTER_BINARY, &actions, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0);
  return pid;
}

// A word only note i holds.
std::string CodeWord(int i) { return "zq" + std::string(1, static_cast<char>('a' + i % 26)) + "x" + std::to_string(i); }

// Waits for `pid`; the raw wait status.
int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

class CrashTest : public testing::Test {
 protected:
  void SetUp() override {
    models_ = dir_ / "models";
    fs::create_directories(models_);
    fs::copy_file(fixtures::TinyEmbeddingModel(), models_ / "tiny-embed.gguf");
    const fs::path corpus = fixtures::SharedDir() / "corpus/pdfs/pdfjs";
    for (const char* pdf : {"tracemonkey.pdf", "TAMReview.pdf", "freeculture.pdf", "issue9418.pdf"}) {
      fs::create_directories(dir_ / "docs");
      fs::copy_file(corpus / pdf, dir_ / "docs" / pdf);
    }
    for (int i = 0; i < 30; ++i) {
      Write(dir_ / "docs/notes" / ("note" + std::to_string(i) + ".txt"),
            "Note " + std::to_string(i) + ". The boiler in building " + std::to_string(i % 7) +
                " is serviced every spring by the facilities team; its code word is " + CodeWord(i) + ".");
    }
  }

  std::vector<std::string> IngestArgs(const fs::path& data) const {
    return {"ingest", (dir_ / "docs").string(), "--data", data.string(), "--models", models_.string()};
  }

  // Ingests to completion in a fresh process; true when it exited 0.
  bool IngestToTheEnd(const fs::path& data) {
    int status = Wait(Spawn(IngestArgs(data)));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  struct Outcome {
    int64_t documents = 0, chunks = 0, embeddings = 0, index_size = 0;
    std::vector<std::string> texts;    // every chunk's text, sorted: nothing lost, nothing twice
    std::vector<std::string> answers;  // the best passage for questions with one right answer
  };

  Outcome Observe(const fs::path& data) {
    Config config;
    config.data_dir = data;
    config.models_dir = models_;
    config.ingest.worker_binary = CLOISTER_BINARY;
    auto kb = KnowledgeBase::Open(config);
    EXPECT_TRUE(kb.ok()) << kb.status().ToString();
    Outcome o;
    if (!kb.ok()) return o;
    auto status = (*kb)->Status(cloister::app::Caller::Everything());
    EXPECT_TRUE(status.ok());
    o.documents = status->documents;
    o.chunks = status->chunks;
    o.embeddings = status->embeddings;
    o.index_size = status->index_size;
    for (int i : {0, 7, 29}) {
      // Lexical: the tiny model's vectors are random, so only BM25 has a right answer to give.
      auto r = (*kb)->Search(cloister::app::Caller::Everything(), "the code word " + CodeWord(i), SearchOptions{.k = 3, .mode = SearchMode::kLexical});
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      o.answers.push_back(r.ok() && !r->results.empty() ? r->results.front().text : "");
      EXPECT_NE(o.answers.back().find(CodeWord(i)), std::string::npos) << o.answers.back();
    }
    auto db = storage::Database::Open(data / "cloister.db", {.read_only = true});
    EXPECT_TRUE(db.ok());
    if (!db.ok()) return o;
    auto st = db->Prepare("SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
                          "WHERE d.status IN ('ready', 'partial') ORDER BY c.text");
    EXPECT_TRUE(st.ok());
    while (st.ok()) {
      auto row = st->Step();
      if (!row.ok() || !*row) break;
      o.texts.push_back(st->ColumnText(0));
    }
    return o;
  }

  // No file is in the catalog twice, the database is sound, no index file is left half-written.
  void ExpectConsistent(const fs::path& data) {
    EXPECT_TRUE(storage::Catalog::Check(data / "cloister.db").ok());
    auto db = storage::Database::Open(data / "cloister.db", {.read_only = true});
    ASSERT_TRUE(db.ok());
    auto dup = db->QueryInt64(
        "SELECT count(*) FROM (SELECT path FROM documents WHERE parent_id IS NULL GROUP BY path HAVING count(*) > 1)");
    ASSERT_TRUE(dup.ok()) << dup.status().ToString();
    EXPECT_EQ(*dup, 0) << "a file is in the catalog twice";
    auto unfinished = db->QueryInt64("SELECT count(*) FROM jobs WHERE state NOT IN ('done', 'failed')");
    ASSERT_TRUE(unfinished.ok());
    EXPECT_EQ(*unfinished, 0);
    for (const auto& e : fs::directory_iterator(data / "vectors")) {
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    }
  }

  void ExpectSameAs(const Outcome& got, const Outcome& want) {
    EXPECT_EQ(got.documents, want.documents);
    EXPECT_EQ(got.chunks, want.chunks);
    EXPECT_EQ(got.embeddings, got.chunks);
    EXPECT_EQ(got.index_size, got.chunks);
    EXPECT_EQ(got.answers, want.answers);
    EXPECT_TRUE(got.texts == want.texts) << got.texts.size() << " chunk texts against " << want.texts.size();
  }

  Outcome Reference() {
    EXPECT_TRUE(IngestToTheEnd(dir_ / "reference"));
    Outcome o = Observe(dir_ / "reference");
    EXPECT_GT(o.documents, 30);
    return o;
  }

  fixtures::TempDir dir_;
  fs::path models_;
};

TEST_F(CrashTest, IngestionKilledAtAnyMomentResumesWithNothingLostOrDuplicated) {
  Outcome want = Reference();
  const fs::path data = dir_ / "data";
  for (int delay_ms : {150, 400, 900, 1600}) {
    pid_t pid = Spawn(IngestArgs(data));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(pid, SIGKILL);
    Wait(pid);
  }
  ASSERT_TRUE(IngestToTheEnd(data));
  ExpectConsistent(data);
  ExpectSameAs(Observe(data), want);
}

TEST_F(CrashTest, KilledBetweenTheWritesOfAJobOrOfAnIndexSaveNothingIsLost) {
  Outcome want = Reference();
  for (const char* failpoint : {"ingest_before_finalize", "ingest_before_done", "index_before_rename"}) {
    SCOPED_TRACE(failpoint);
    const fs::path data = dir_ / failpoint;
    int status = Wait(Spawn(IngestArgs(data), failpoint));
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the failpoint was not reached";
    if (std::string(failpoint) == "index_before_rename") {
      bool left = false;
      for (const auto& e : fs::directory_iterator(data / "vectors")) left |= e.path().string().find(".tmp.") != std::string::npos;
      EXPECT_TRUE(left) << "the kill should leave the unfinished index file behind";
    }
    ASSERT_TRUE(IngestToTheEnd(data));
    ExpectConsistent(data);
    ExpectSameAs(Observe(data), want);
  }
}

TEST_F(CrashTest, AMigrationKilledBeforeItsCommitLeavesTheOldSchemaAndRunsAgain) {
  const fs::path data = dir_ / "data";
  fs::create_directories(data);
  {
    auto db = storage::Database::Open(data / "cloister.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(storage::Migrate(*db, storage::kSchemaVersion - 1).ok());
    ASSERT_TRUE(db->Exec("INSERT INTO collections (name, folder, created_at) VALUES ('legal', '/srv/legal', 1)").ok());
  }
  int status = Wait(Spawn({"status", "--data", data.string(), "--models", models_.string()}, "migration_before_commit"));
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the failpoint was not reached";
  {
    auto db = storage::Database::Open(data / "cloister.db", {.read_only = true});
    ASSERT_TRUE(db.ok());
    EXPECT_EQ(*storage::SchemaVersion(*db), storage::kSchemaVersion - 1);
    EXPECT_TRUE(storage::Catalog::Check(data / "cloister.db").ok());
  }
  status = Wait(Spawn({"status", "--data", data.string(), "--models", models_.string()}));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto catalog = storage::Catalog::Open(data / "cloister.db", {.read_only = true});
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  auto collections = catalog->ListCollections();
  ASSERT_TRUE(collections.ok());
  bool legal = false;
  for (const auto& c : *collections) legal |= c.name == "legal" && c.folder == "/srv/legal";
  EXPECT_TRUE(legal);
}

}  // namespace
}  // namespace cloister::app
