// The CLI contract of DESIGN.md, checked against the built binary.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <regex>
#include <sstream>
#include <thread>

#include "cloister/core/files.h"
#include "fixtures/fixtures.h"

extern char** environ;

namespace cloister {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

pid_t Spawn(const std::vector<std::string>& args, const std::filesystem::path& out,
            const std::filesystem::path& err, const std::filesystem::path& in = {}) {
  std::vector<char*> argv;
  std::string bin = CLOISTER_BINARY;
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!in.empty()) posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "cannot start " << bin;
  return pid;
}

// Runs the binary with `input` as its stdin (none when empty).
CliRun Cloister(const std::vector<std::string>& args, const std::string& input = "") {
  fixtures::TempDir io;
  if (!input.empty()) std::ofstream(io / "in") << input;
  pid_t pid = Spawn(args, io / "out", io / "err", input.empty() ? fs::path() : io / "in");
  int status = 0;
  waitpid(pid, &status, 0);
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(io / "out");
  r.err = Slurp(io / "err");
  return r;
}

Poco::JSON::Object::Ptr Json(const std::string& text) {
  return Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
}

// A plain HTTP/1.0 GET over a socket: the test needs no HTTP library to check the server.
std::string HttpGet(uint16_t port, const std::string& path, const std::string& headers = "") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  return reply;
}

TEST(CliTest, VersionPrintsTheVersion) {
  CliRun r = Cloister({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^cloister \d+\.\d+\.\d+)"))) << r.out;
  CliRun j = Cloister({"--version", "--json"});
  EXPECT_FALSE(Json(j.out)->getValue<std::string>("version").empty());
}

TEST(CliTest, HelpListsEveryCommandAndExitsZero) {
  CliRun r = Cloister({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"ingest", "search", "ask", "status", "serve", "models", "reembed", "backup", "restore",
                          "user add", "user del", "user passwd", "apikey create", "apikey revoke",
                          "collection add", "grant", "revoke", "--auth", "--insecure-no-auth",
                          "--data", "--json"}) {
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  }
}

TEST(CliTest, UnknownCommandAndBadFlagsAreUserErrors) {
  EXPECT_EQ(Cloister({"frobnicate"}).exit_code, 1);
  CliRun bad = Cloister({"status", "--bogus"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--bogus"), std::string::npos);
  CliRun port = Cloister({"serve", "--port", "http"});
  EXPECT_EQ(port.exit_code, 1);
  EXPECT_NE(port.err.find("--port"), std::string::npos);
  EXPECT_EQ(Cloister({"status", "--data"}).exit_code, 1);
}

TEST(CliTest, StatusOnAFreshDataFolderReportsAnEmptyLexicalKnowledgeBase) {
  fixtures::TempDir dir;
  CliRun r = Cloister({"status", "--json", "--data", (dir / "data").string(), "--models",
                    (dir / "models").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = Json(r.out);
  EXPECT_EQ(j->getValue<int>("documents"), 0);
  EXPECT_EQ(j->getValue<int>("chunks"), 0);
  EXPECT_EQ(j->getValue<std::string>("retrieval_mode"), "lexical");
  EXPECT_EQ(j->getValue<std::string>("answer_mode"), "extractive");
  EXPECT_TRUE(j->getObject("queue")->has("queued"));
  EXPECT_EQ(j->getObject("index")->getValue<std::string>("kind"), "none");
  CliRun human = Cloister({"status", "--data", (dir / "data").string()});
  EXPECT_EQ(human.exit_code, 0);
  EXPECT_NE(human.out.find("documents: 0"), std::string::npos) << human.out;
}

TEST(CliTest, StatusOnACorruptCatalogFailsWithAMessageNamingIt) {
  fixtures::TempDir dir;
  std::filesystem::create_directories(dir / "data");
  ASSERT_TRUE(WriteFileAtomic(dir / "data" / "cloister.db", std::string(4096, 'x')).ok());
  CliRun r = Cloister({"status", "--json", "--data", (dir / "data").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cloister.db"), std::string::npos) << r.err;
  EXPECT_TRUE(Json(r.out)->has("error"));
}

TEST(CliTest, ModelsListsKindQuantizationSizeAndWhetherEachLoads) {
  fixtures::TempDir dir;
  std::filesystem::create_directories(dir / "models");
  std::filesystem::copy_file(fixtures::TinyEmbeddingModel(), dir / "models" / "embed.gguf");
  std::filesystem::copy_file(fixtures::StoriesModel(), dir / "models" / "stories.gguf");
  ASSERT_TRUE(WriteFileAtomic(dir / "models" / "broken.gguf", "nope").ok());
  CliRun r = Cloister({"models", "--json", "--models", (dir / "models").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto models = Json(r.out)->getArray("models");
  ASSERT_EQ(models->size(), 3u);
  auto broken = models->getObject(0);
  EXPECT_FALSE(broken->getValue<bool>("loads"));
  auto embed = models->getObject(1);
  EXPECT_EQ(embed->getValue<std::string>("kind"), "embedding");
  EXPECT_EQ(embed->getValue<std::string>("quantization"), "F32");
  EXPECT_TRUE(embed->getValue<bool>("loads"));
  auto stories = models->getObject(2);
  EXPECT_EQ(stories->getValue<std::string>("kind"), "chat");
  EXPECT_EQ(stories->getValue<uint64_t>("size_bytes"), 1185376u);
  CliRun human = Cloister({"models", "--models", (dir / "models").string()});
  EXPECT_NE(human.out.find("stories.gguf"), std::string::npos);
  EXPECT_NE(human.out.find("does not load"), std::string::npos);
}

TEST(CliTest, AskQuotesTheAnswerWithItsSourceAndPageWithoutAChatModel) {
  fixtures::TempDir dir;
  std::string data = (dir / "data").string(), models = (dir / "models").string();
  fs::path paper = fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf";
  ASSERT_EQ(Cloister({"ingest", paper.string(), "--no-ocr", "--data", data, "--models", models}).exit_code, 0);
  CliRun r = Cloister({"ask", "After how many crossings does a loop become hot?", "--json", "--data", data,
                       "--models", models});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = Json(r.out);
  EXPECT_EQ(j->getValue<std::string>("mode"), "extractive");
  EXPECT_TRUE(j->getValue<bool>("evidence"));
  EXPECT_NE(j->getValue<std::string>("answer").find("2 crossings"), std::string::npos) << r.out;
  auto sources = j->getArray("sources");
  ASSERT_GT(sources->size(), 0u);
  auto first = sources->getObject(0);
  EXPECT_EQ(first->getValue<int>("n"), 1);
  EXPECT_EQ(first->getValue<int>("page"), 2);
  EXPECT_NE(first->getObject("document")->getValue<std::string>("path").find("tracemonkey.pdf"), std::string::npos);
  CliRun human = Cloister({"ask", "After", "how", "many", "crossings", "does", "a", "loop", "become", "hot?",
                           "--data", data, "--models", models});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("page 2"), std::string::npos) << human.out;
  CliRun none = Cloister({"ask", "What is the capital of Zanzibar?", "--json", "--data", data, "--models", models});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_FALSE(Json(none.out)->getValue<bool>("evidence"));
  EXPECT_EQ(Cloister({"ask", "--data", data}).exit_code, 1);  // no question
}

// DESIGN.md's contract for `ask --json` in the other mode: a chat model in the models folder
// (stories260K, a real trained llama) writes the answer; every [n] left in it is a listed source.
TEST(CliTest, AskWithAChatModelGivesAGeneratedAnswerWithItsSourcesAndUsage) {
  fixtures::TempDir dir;
  std::string data = (dir / "data").string(), models = (dir / "models").string();
  fs::create_directories(dir / "models");
  fs::copy_file(fixtures::StoriesModel(), dir / "models" / "stories260K.gguf");
  fs::path paper = fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf";
  ASSERT_EQ(Cloister({"ingest", paper.string(), "--no-ocr", "--data", data, "--models", models}).exit_code, 0);
  CliRun r = Cloister({"ask", "After how many crossings does a loop become hot?", "--json", "--k", "3", "--data",
                       data, "--models", models});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = Json(r.out);
  EXPECT_EQ(j->getValue<std::string>("mode"), "generated");
  EXPECT_TRUE(j->getValue<bool>("evidence"));
  const std::string answer = j->getValue<std::string>("answer");
  EXPECT_FALSE(answer.empty());
  auto sources = j->getArray("sources");
  std::set<int> listed;
  for (size_t i = 0; i < sources->size(); ++i) {
    auto source = sources->getObject(static_cast<unsigned>(i));
    listed.insert(source->getValue<int>("n"));
    EXPECT_GE(source->getValue<int>("n"), 1);
    EXPECT_LE(source->getValue<int>("n"), 3);
    EXPECT_NE(source->getObject("document")->getValue<std::string>("path").find("tracemonkey.pdf"),
              std::string::npos);
    EXPECT_FALSE(source->getValue<std::string>("text").empty());
  }
  for (size_t at = answer.find('['); at != std::string::npos; at = answer.find('[', at + 1)) {
    size_t end = answer.find(']', at);
    if (end == std::string::npos) break;
    const std::string inside = answer.substr(at + 1, end - at - 1);
    if (!inside.empty() && inside.find_first_not_of("0123456789") == std::string::npos) {
      EXPECT_EQ(listed.count(std::stoi(inside)), 1u) << "[" << inside << "] points nowhere in " << r.out;
    }
  }
  auto usage = j->getObject("usage");
  EXPECT_GT(usage->getValue<int>("prompt_tokens"), 0);
  EXPECT_GT(usage->getValue<int>("completion_tokens"), 0);
  EXPECT_FALSE(j->getValue<std::string>("stop").empty());
}

TEST(CliTest, ServeAnswersHealthAndStopsCleanlyOnSigint) {
  fixtures::TempDir dir;
  pid_t pid = Spawn({"serve", "--port", "0", "--data", (dir / "data").string(), "--inbox",
                     (dir / "inbox").string()},
                    dir / "out", dir / "err");
  std::smatch m;
  std::string log;
  std::regex url(R"(url=http://127\.0\.0\.1:(\d+))");
  for (int i = 0; i < 300 && !std::regex_search(log, m, url); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = Slurp(dir / "err");
  }
  ASSERT_TRUE(std::regex_search(log, m, url)) << log;
  uint16_t port = static_cast<uint16_t>(std::stoi(m[1]));
  std::string reply = HttpGet(port, "/api/v1/health");
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
  EXPECT_NE(reply.find("\"status\":\"ok\""), std::string::npos) << reply;

  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 300 && done == 0; ++i) {
    done = waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) kill(pid, SIGKILL);
  ASSERT_EQ(done, pid) << "serve did not stop within 15 s of SIGINT";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(Slurp(dir / "err").find("stopped"), std::string::npos);
}

// Every file of the shared corpus is ingested or refused with a specific reason; none is lost
// and the process survives all of them (the issue's acceptance check).
TEST(CliIngestTest, TheWholeCorpusIsIngestedOrRefusedFileByFile) {
  fixtures::TempDir dir;
  fs::path corpus = fs::canonical(fixtures::SharedDir() / "corpus");
  CliRun r = Cloister({"ingest", corpus.string(), "--json", "--data", (dir / "data").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 2000);
  auto j = Json(r.out);
  std::map<std::string, std::string> outcome;
  auto ingested = j->getArray("ingested");
  for (size_t i = 0; i < ingested->size(); ++i) outcome[ingested->getObject(i)->getValue<std::string>("path")] = "ok";
  auto failed = j->getArray("failed");
  const std::set<std::string> reasons = {"encrypted", "corrupt", "unsupported", "too large", "timeout"};
  for (size_t i = 0; i < failed->size(); ++i) {
    auto f = failed->getObject(i);
    std::string reason = f->getValue<std::string>("reason");
    outcome[f->getValue<std::string>("path")] = reason;
    EXPECT_TRUE(reasons.count(reason)) << f->getValue<std::string>("path") << ": " << f->getValue<std::string>("error");
  }
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(corpus)) {
    if (!e.is_regular_file() || e.path().filename().string()[0] == '.') continue;
    ++files;
    EXPECT_TRUE(outcome.count(e.path().string())) << "missing from the report: " << e.path();
  }
  EXPECT_EQ(static_cast<int>(outcome.size()), files);
  EXPECT_GT(ingested->size(), failed->size());
  EXPECT_GT(j->getValue<int>("chunks"), 100);
}

TEST(CliIngestTest, AnEncryptedPdfFailsAsEncryptedUntilItsPasswordIsGiven) {
  fixtures::TempDir dir;
  std::string pdf = (fixtures::SharedDir() / "corpus/pdfs/pdfminer/rc4-40.pdf").string();
  CliRun refused = Cloister({"ingest", pdf, "--json", "--data", (dir / "data").string()});
  ASSERT_EQ(refused.exit_code, 0) << refused.err;
  auto failed = Json(refused.out)->getArray("failed");
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ(failed->getObject(0)->getValue<std::string>("reason"), "encrypted");
  CliRun opened = Cloister({"ingest", pdf, "--pdf-password", "baz", "--no-ocr", "--json", "--data",
                            (dir / "data").string()});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  EXPECT_EQ(Json(opened.out)->getArray("ingested")->size(), 1u);
  EXPECT_EQ(Cloister({"ingest", pdf, "--timeout", "soon"}).exit_code, 1);
}

TEST(CliSearchTest, FiltersAndModesAreFlagsAndBadOnesAreUserErrors) {
  fixtures::TempDir dir;
  fs::path mail = fixtures::SharedDir() / "corpus/mail/mikel-mail/raw_email_encoded_stack_level_too_deep.eml";
  ASSERT_EQ(Cloister({"ingest", mail.string(), "--data", (dir / "data").string()}).exit_code, 0);
  auto hits = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"search", "Gmail", "--json", "--data", (dir / "data").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun r = Cloister(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = Json(r.out);
    EXPECT_EQ(j->getValue<std::string>("mode"), "lexical");
    return j->getArray("results")->size();
  };
  EXPECT_GT(hits({}), 0u);
  EXPECT_GT(hits({"--type", "email"}), 0u);
  EXPECT_EQ(hits({"--type", "pdf"}), 0u);
  EXPECT_EQ(hits({"--after", "2099-01-01"}), 0u);
  EXPECT_EQ(Cloister({"search", "x", "--mode", "psychic"}).exit_code, 1);
  EXPECT_EQ(Cloister({"search", "x", "--after", "yesterday"}).exit_code, 1);
  EXPECT_EQ(Cloister({"search", "x", "--rrf-k", "-1"}).exit_code, 1);
  EXPECT_EQ(Cloister({"search", "x", "--vector-weight", "heavy"}).exit_code, 1);
  EXPECT_GT(hits({"--rrf-k", "20", "--lexical-weight", "2"}), 0u);
  CliRun vector = Cloister({"search", "x", "--mode", "vector", "--data", (dir / "data").string()});
  EXPECT_EQ(vector.exit_code, 1);  // no embedding model: a user error with a clear message
  EXPECT_NE(vector.err.find("embedding model"), std::string::npos) << vector.err;
}

TEST(CliTest, BackupAndRestoreGiveTheSameSearchResults) {
  fixtures::TempDir dir;
  const std::string data = (dir / "data").string(), other = (dir / "other").string();
  fs::path paper = fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf";
  ASSERT_EQ(Cloister({"ingest", paper.string(), "--data", data}).exit_code, 0);
  CliRun backup = Cloister({"backup", (dir / "backup").string(), "--data", data, "--json"});
  ASSERT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_GT(Json(backup.out)->getValue<int64_t>("chunks"), 10);
  EXPECT_EQ(Cloister({"backup", (dir / "backup").string(), "--data", data}).exit_code, 1) << "not empty";
  EXPECT_EQ(Cloister({"backup", "--data", data}).exit_code, 1);

  CliRun restore = Cloister({"restore", (dir / "backup").string(), "--data", other, "--json"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(Json(restore.out)->getValue<int64_t>("chunks"), Json(backup.out)->getValue<int64_t>("chunks"));
  CliRun again = Cloister({"restore", (dir / "backup").string(), "--data", other});
  EXPECT_EQ(again.exit_code, 1) << "a catalog is there";
  EXPECT_NE(again.err.find("--replace"), std::string::npos) << again.err;
  EXPECT_EQ(Cloister({"restore", (dir / "backup").string(), "--data", other, "--replace"}).exit_code, 0);

  auto search = [&](const std::string& folder) {
    CliRun r = Cloister({"search", "when does a loop become hot", "--json", "--data", folder});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::ostringstream out;
    Json(r.out)->getArray("results")->stringify(out);
    return out.str();
  };
  EXPECT_EQ(search(other), search(data));
}

TEST(CliSearchTest, StatusShowsAChangeOfEmbeddingModelAndReembedFinishesIt) {
  fixtures::TempDir dir;
  fs::create_directories(dir / "models");
  fs::copy_file(fixtures::TinyEmbeddingModel(), dir / "models" / "b-embed.gguf");
  std::vector<std::string> where = {"--data", (dir / "data").string(), "--models", (dir / "models").string()};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), where.begin(), where.end());
    return Cloister(args);
  };
  fs::path mail = fixtures::SharedDir() / "corpus/mail/mikel-mail/raw_email_encoded_stack_level_too_deep.eml";
  ASSERT_EQ(run({"ingest", mail.string()}).exit_code, 0);
  CliRun idle = run({"status", "--json"});
  ASSERT_EQ(idle.exit_code, 0) << idle.err;
  EXPECT_TRUE(Json(idle.out)->isNull("reembedding"));

  fs::copy_file(fixtures::OtherTinyEmbeddingModel(), dir / "models" / "a-embed.gguf");  // now in use
  CliRun pending = run({"status", "--json"});
  ASSERT_EQ(pending.exit_code, 0) << pending.err;
  auto re = Json(pending.out)->getObject("reembedding");
  ASSERT_FALSE(re.isNull()) << pending.out;
  EXPECT_EQ(re->getValue<std::string>("from"), "b-embed.gguf");
  EXPECT_EQ(re->getValue<std::string>("to"), "a-embed.gguf");
  int64_t chunks = Json(pending.out)->getValue<int64_t>("chunks");
  EXPECT_GT(chunks, 0);
  EXPECT_EQ(re->getValue<int64_t>("done"), 0);
  EXPECT_EQ(re->getValue<int64_t>("total"), chunks);
  CliRun text = run({"status"});
  EXPECT_NE(text.out.find("re-embedding: 0/"), std::string::npos) << text.out;

  CliRun reembed = run({"reembed"});
  EXPECT_EQ(reembed.exit_code, 0) << reembed.err;
  EXPECT_NE(reembed.out.find("search now uses a-embed.gguf"), std::string::npos) << reembed.out;
  CliRun done = run({"status", "--json"});
  EXPECT_TRUE(Json(done.out)->isNull("reembedding")) << done.out;
  EXPECT_EQ(Json(done.out)->getObject("index")->getValue<int64_t>("size"), chunks);
  CliRun again = run({"reembed"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("nothing to re-embed"), std::string::npos) << again.out;
}

int CountHits(const fs::path& data, const std::string& word) {
  CliRun r = Cloister({"search", word, "--json", "--k", "50", "--data", data.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return static_cast<int>(Json(r.out)->getArray("results")->size());
}

// SIGKILL in the middle of ingestion, then ingest again: every document exactly once.
TEST(CliIngestTest, AKillMidwayLeavesNoHalfDocumentAndARerunCompletesExactlyOnce) {
  fixtures::TempDir dir;
  const int kFiles = 120;
  fs::create_directories(dir / "in");
  for (int i = 0; i < kFiles; ++i) {
    std::ofstream out(dir / ("in/f" + std::to_string(i) + ".txt"));
    out << "File " << i << " is about token" << i << "x. ";  // once: one chunk finds it
    for (int s = 0; s < 200; ++s) out << "Sentence " << s << " of file " << i << " goes on. ";
  }
  // One worker, so the kill lands well before the last file.
  pid_t pid = Spawn({"ingest", (dir / "in").string(), "--workers", "1", "--data", (dir / "data").string()},
                    dir / "o1", dir / "e1");
  for (int i = 0; i < 400; ++i) {  // wait until some files are done, not all
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    CliRun s = Cloister({"status", "--json", "--data", (dir / "data").string()});
    if (s.exit_code == 0 && Json(s.out)->getObject("queue")->getValue<int>("done") >= 5) break;
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  CliRun before = Cloister({"status", "--json", "--data", (dir / "data").string()});
  int done_before = Json(before.out)->getObject("queue")->getValue<int>("done");
  EXPECT_LT(done_before, kFiles) << "ingestion finished before the kill; the test proves nothing";

  CliRun again = Cloister({"ingest", (dir / "in").string(), "--json", "--data", (dir / "data").string()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Json(again.out)->getArray("failed")->size(), 0u);
  auto st = Json(Cloister({"status", "--json", "--data", (dir / "data").string()}).out);
  EXPECT_EQ(st->getValue<int>("documents"), kFiles);
  for (int i = 0; i < kFiles; i += 13) EXPECT_EQ(CountHits(dir / "data", "token" + std::to_string(i) + "x"), 1) << i;

  // The same files ingested in one clean run give the same number of chunks: none duplicated.
  CliRun clean = Cloister({"ingest", (dir / "in").string(), "--json", "--data", (dir / "clean").string()});
  EXPECT_EQ(st->getValue<int>("chunks"), Json(clean.out)->getValue<int>("chunks"));
}

}  // namespace
}  // namespace cloister

namespace cloister {
namespace {

// Starts serve with `extra` flags and returns its port, read from the log (0 on failure).
uint16_t StartServe(const fixtures::TempDir& dir, const std::vector<std::string>& extra, pid_t* pid) {
  std::vector<std::string> args = {"serve", "--port", "0", "--data", (dir / "data").string(),
                                   "--inbox", (dir / "inbox").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  *pid = Spawn(args, dir / "out", dir / "err");
  std::smatch m;
  std::string log;
  std::regex url(R"(url=http://[0-9.]+:(\d+))");
  for (int i = 0; i < 300 && !std::regex_search(log, m, url); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    log = Slurp(dir / "err");
  }
  if (!std::regex_search(log, m, url)) {
    ADD_FAILURE() << log;
    return 0;
  }
  return static_cast<uint16_t>(std::stoi(m[1]));
}

void StopServe(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, WNOHANG);
}

TEST(CliAccountsTest, UsersAndApiKeysAreManagedWithPasswordsFromStdinAndKeysShownOnce) {
  fixtures::TempDir dir;
  std::string data = (dir / "data").string();
  CliRun add = Cloister({"user", "add", "alice", "--role", "admin", "--data", data}, "correct horse\n");
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_EQ(Cloister({"user", "add", "alice", "--role", "user", "--data", data}, "another one\n").exit_code, 1);
  EXPECT_EQ(Cloister({"user", "add", "bob", "--role", "root", "--data", data}, "correct horse\n").exit_code, 1);
  EXPECT_EQ(Cloister({"user", "add", "bob", "--data", data}, "correct horse\n").exit_code, 1);
  CliRun short_password = Cloister({"user", "add", "bob", "--role", "user", "--data", data}, "short\n");
  EXPECT_EQ(short_password.exit_code, 1);
  EXPECT_NE(short_password.err.find("at least"), std::string::npos) << short_password.err;

  CliRun users = Cloister({"user", "list", "--json", "--data", data});
  ASSERT_EQ(users.exit_code, 0) << users.err;
  auto list = Json(users.out)->getArray("users");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->getObject(0)->getValue<std::string>("role"), "admin");
  EXPECT_EQ(users.out.find("argon2"), std::string::npos);

  CliRun created = Cloister({"apikey", "create", "alice", "--json", "--data", data});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::string key = Json(created.out)->getValue<std::string>("key");
  int64_t id = Json(created.out)->getValue<int64_t>("id");
  EXPECT_EQ(key.rfind("ck_", 0), 0u);
  CliRun plain = Cloister({"apikey", "create", "alice", "--data", data});
  EXPECT_TRUE(std::regex_match(plain.out, std::regex("ck_[0-9a-f]{8}_[A-Za-z0-9_-]{43}\n"))) << plain.out;
  EXPECT_EQ(Cloister({"apikey", "create", "nobody", "--data", data}).exit_code, 1);

  CliRun keys = Cloister({"apikey", "list", "--json", "--data", data});
  ASSERT_EQ(keys.exit_code, 0);
  EXPECT_EQ(Json(keys.out)->getArray("api_keys")->size(), 2u);
  EXPECT_EQ(keys.out.find(key.substr(12)), std::string::npos) << "the secret part is never listed";

  EXPECT_EQ(Cloister({"apikey", "revoke", std::to_string(id), "--data", data}).exit_code, 0);
  EXPECT_EQ(Cloister({"apikey", "revoke", "999", "--data", data}).exit_code, 1);
  EXPECT_EQ(Cloister({"apikey", "revoke", "abc", "--data", data}).exit_code, 1);
  auto revoked = Json(Cloister({"apikey", "list", "--json", "--data", data}).out)->getArray("api_keys");
  EXPECT_FALSE(revoked->getObject(0)->isNull("revoked_at"));
  EXPECT_TRUE(revoked->getObject(1)->isNull("revoked_at"));

  EXPECT_EQ(Cloister({"user", "passwd", "alice", "--data", data}, "a better password\n").exit_code, 0);
  EXPECT_EQ(Cloister({"user", "passwd", "carol", "--data", data}, "a better password\n").exit_code, 1);
  EXPECT_EQ(Cloister({"user", "del", "alice", "--data", data}).exit_code, 0);
  EXPECT_EQ(Cloister({"user", "del", "alice", "--data", data}).exit_code, 1);
  EXPECT_EQ(Json(Cloister({"apikey", "list", "--json", "--data", data}).out)->getArray("api_keys")->size(), 0u);
}

TEST(CliAccountsTest, CollectionsAreAddedAndGrantedAndRevoked) {
  fixtures::TempDir dir;
  std::string data = (dir / "data").string();
  ASSERT_EQ(Cloister({"user", "add", "bob", "--role", "user", "--data", data}, "correct horse\n").exit_code, 0);
  ASSERT_EQ(Cloister({"collection", "add", "hr", "--folder", (dir / "hr").string(), "--data", data}).exit_code, 0);
  EXPECT_EQ(Cloister({"collection", "add", "hr", "--data", data}).exit_code, 1);  // no --folder
  EXPECT_EQ(Cloister({"grant", "bob", "hr", "--data", data}).exit_code, 0);
  EXPECT_EQ(Cloister({"grant", "bob", "nope", "--data", data}).exit_code, 1);
  EXPECT_EQ(Cloister({"grant", "nobody", "hr", "--data", data}).exit_code, 1);
  auto user = Json(Cloister({"user", "list", "--json", "--data", data}).out)->getArray("users")->getObject(0);
  ASSERT_EQ(user->getArray("collections")->size(), 1u);
  EXPECT_EQ(user->getArray("collections")->getElement<std::string>(0), "hr");
  EXPECT_EQ(Cloister({"revoke", "bob", "hr", "--data", data}).exit_code, 0);
  EXPECT_EQ(Cloister({"revoke", "bob", "hr", "--data", data}).exit_code, 1);
}

TEST(CliAccountsTest, ServeRefusesANonLoopbackAddressWithoutAuth) {
  fixtures::TempDir dir;
  CliRun r = Cloister({"serve", "--bind", "0.0.0.0", "--port", "0", "--data", (dir / "data").string(),
                       "--inbox", (dir / "inbox").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("refusing to serve on 0.0.0.0 without authentication"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--auth"), std::string::npos);
  EXPECT_NE(r.err.find("--insecure-no-auth"), std::string::npos);

  pid_t pid = 0;
  uint16_t port = StartServe(dir, {"--bind", "0.0.0.0", "--insecure-no-auth"}, &pid);
  ASSERT_GT(port, 0);
  EXPECT_NE(HttpGet(port, "/api/v1/status").find("200 OK"), std::string::npos);
  StopServe(pid);
}

TEST(CliAccountsTest, ServeWithAuthAcceptsTheCreatedKeyAndRefusesTheRest) {
  fixtures::TempDir dir;
  std::string data = (dir / "data").string();
  ASSERT_EQ(Cloister({"user", "add", "alice", "--role", "user", "--data", data}, "correct horse\n").exit_code, 0);
  std::string key = Cloister({"apikey", "create", "alice", "--data", data}).out;
  key.pop_back();  // the line break
  pid_t pid = 0;
  uint16_t port = StartServe(dir, {"--bind", "0.0.0.0", "--auth"}, &pid);
  ASSERT_GT(port, 0);
  EXPECT_NE(HttpGet(port, "/api/v1/health").find("200 OK"), std::string::npos);
  std::string refused = HttpGet(port, "/api/v1/status");
  EXPECT_NE(refused.find("401"), std::string::npos) << refused;
  EXPECT_NE(refused.find("unauthenticated"), std::string::npos) << refused;
  std::string ok = HttpGet(port, "/api/v1/status", "Authorization: Bearer " + key + "\r\n");
  EXPECT_NE(ok.find("200 OK"), std::string::npos) << ok;
  StopServe(pid);
}


// ---- configuration, doctor and the audit of administration (issues 7 and 8) ----------------

namespace config_cli {

const fs::path kSource = CLOISTER_SOURCE_DIR;

std::string SettingValue(const CliRun& run, const std::string& name) {
  auto settings = Json(run.out)->getArray("settings");
  for (size_t i = 0; i < settings->size(); ++i) {
    if (settings->getObject(i)->getValue<std::string>("name") == name) {
      return settings->getObject(i)->getValue<std::string>("value");
    }
  }
  return "(missing)";
}

TEST(ConfigCliTest, ConfigCheckNamesEveryMistakeWithItsLineAndSettingAndExitsOne) {
  fixtures::TempDir dir;
  std::ofstream(dir / "bad.conf") << "[server]\nport = 80800\nprot = 8080\n[answer]\ntemperature = hot\n";
  CliRun bad = Cloister({"config", "check", (dir / "bad.conf").string()});
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.out.find("bad.conf:2: server.port needs a whole number from 0 to 65535, got '80800'"), std::string::npos)
      << bad.out;
  EXPECT_NE(bad.out.find("bad.conf:3: no setting is called 'server.prot'; did you mean 'server.port'?"),
            std::string::npos)
      << bad.out;
  EXPECT_NE(bad.out.find("bad.conf:5: answer.temperature"), std::string::npos) << bad.out;
  CliRun json = Cloister({"config", "check", (dir / "bad.conf").string(), "--json"});
  EXPECT_EQ(json.exit_code, 1);
  auto report = Json(json.out);
  EXPECT_FALSE(report->getValue<bool>("valid"));
  EXPECT_EQ(report->getArray("problems")->getObject(0)->getValue<int>("line"), 2);
  EXPECT_EQ(report->getArray("problems")->getObject(0)->getValue<std::string>("key"), "server.port");

  CliRun shipped = Cloister({"config", "check", (kSource / "deploy" / "cloister.conf").string()});
  EXPECT_EQ(shipped.exit_code, 0) << shipped.out << shipped.err;
  EXPECT_NE(shipped.out.find("valid"), std::string::npos);
}

TEST(ConfigCliTest, AServiceWithABrokenFileRefusesToStartAndNamesTheLine) {
  fixtures::TempDir dir;
  std::ofstream(dir / "bad.conf") << "[ingest]\nworkers = 2\nocr = perhaps\n";
  CliRun run = Cloister({"--config", (dir / "bad.conf").string(), "serve", "--port", "0", "--data",
                         (dir / "data").string()});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("bad.conf:3: ingest.ocr needs true or false"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir / "data")) << "nothing started";
  CliRun missing = Cloister({"--config", (dir / "nowhere.conf").string(), "status"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nowhere.conf does not exist"), std::string::npos) << missing.err;
}

TEST(ConfigCliTest, SettingsComeFromTheFileThenTheEnvironmentThenTheFlags) {
  fixtures::TempDir dir;
  std::ofstream(dir / "cloister.conf") << "[paths]\ndata_dir = " << (dir / "from-file").string()
                                       << "\n[server]\nport = 7001\nhttp_threads = 3\n[answer]\nslots = 2\n";
  std::vector<std::string> show = {"--config", (dir / "cloister.conf").string(), "config", "show", "--json"};
  CliRun file = Cloister(show);
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(SettingValue(file, "server.port"), "7001");
  EXPECT_EQ(SettingValue(file, "server.http_threads"), "3");
  EXPECT_EQ(SettingValue(file, "answer.slots"), "2");
  EXPECT_EQ(SettingValue(file, "answer.max_tokens"), "512") << "unset: the default";
  EXPECT_EQ(Json(file.out)->getValue<std::string>("file"), (dir / "cloister.conf").string());

  setenv("CLOISTER_SERVER_PORT", "7002", 1);
  CliRun environment = Cloister(show);
  auto with_flag = show;
  with_flag.insert(with_flag.end(), {"--port", "7003"});
  CliRun flag = Cloister(with_flag);
  unsetenv("CLOISTER_SERVER_PORT");
  EXPECT_EQ(SettingValue(environment, "server.port"), "7002");
  EXPECT_EQ(SettingValue(environment, "server.http_threads"), "3");
  EXPECT_EQ(SettingValue(flag, "server.port"), "7003");

  // The file's data folder is the one commands use.
  CliRun status = Cloister({"--config", (dir / "cloister.conf").string(), "status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(fs::path(Json(status.out)->getValue<std::string>("data")), dir / "from-file");
}

TEST(ConfigCliTest, DoctorSaysReadyAndFailsAnOpenBindWithoutAuthentication) {
  fixtures::TempDir dir;
  std::vector<std::string> where = {"--data", (dir / "data").string(), "--models", (dir / "models").string(),
                                    "--inbox", (dir / "inbox").string()};
  auto command = where;
  command.insert(command.begin(), {"doctor", "--json"});
  CliRun ready = Cloister(command);
  EXPECT_EQ(ready.exit_code, 0) << ready.out << ready.err;
  auto report = Json(ready.out);
  EXPECT_TRUE(report->getValue<bool>("ok"));
  EXPECT_GE(report->getArray("checks")->size(), 8u);

  command.insert(command.end(), {"--bind", "0.0.0.0"});
  CliRun exposed = Cloister(command);
  EXPECT_EQ(exposed.exit_code, 1);
  EXPECT_FALSE(Json(exposed.out)->getValue<bool>("ok"));
  EXPECT_NE(exposed.out.find("\"authentication\""), std::string::npos);
}

TEST(ConfigCliTest, AdministrationFromTheCommandLineIsAudited) {
  fixtures::TempDir dir;
  std::vector<std::string> data = {"--data", (dir / "data").string()};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), data.begin(), data.end());
    return args;
  };
  ASSERT_EQ(Cloister(with({"user", "add", "ann", "--role", "user"}), "correct horse\n").exit_code, 0);
  ASSERT_EQ(Cloister(with({"collection", "add", "legal", "--folder", (dir / "legal").string()})).exit_code, 0);
  ASSERT_EQ(Cloister(with({"grant", "ann", "legal"})).exit_code, 0);
  CliRun key = Cloister(with({"apikey", "create", "ann", "--json"}));
  ASSERT_EQ(key.exit_code, 0) << key.err;
  std::string secret = Json(key.out)->getValue<std::string>("key");
  ASSERT_EQ(Cloister(with({"user", "del", "ann"})).exit_code, 0);

  std::ifstream log(dir / "data" / "audit" / "audit.log");
  std::vector<std::string> actions;
  std::string all;
  for (std::string line; std::getline(log, line);) {
    all += line + "\n";
    auto event = Json(line);
    actions.push_back(event->getValue<std::string>("action"));
    EXPECT_EQ(event->getValue<std::string>("auth"), "cli");
    EXPECT_FALSE(event->getValue<std::string>("user").empty());
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"user_add", "collection_add", "grant", "apikey_create", "user_del"}));
  EXPECT_EQ(all.find(secret.substr(12)), std::string::npos) << "the key's secret never reaches the log";
  EXPECT_EQ(all.find("correct horse"), std::string::npos);
}

}  // namespace config_cli

}  // namespace
}  // namespace cloister
