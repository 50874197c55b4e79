// HTTP request handling of the JSON API and the OpenAI-compatible API: the real web::Server
// (its own connection handling, request parsing, routing, JSON bodies and their validation,
// multipart uploads, the streamed answers) on a loopback port, each input sent as the raw bytes
// of one connection. The knowledge base behind it is canned (below): it answers every call with
// results built from what it was asked, so what the handlers render is request-derived too,
// without llama.cpp or FAISS in the build. Authentication is off (argon2id on every fuzzed login
// would be most of the time spent).
//
// Checks: whatever arrives, the server answers with HTTP (or closes without a byte when no
// request began), and keeps answering.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "cloister/app/knowledge_base.h"
#include "cloister/core/log.h"
#include "cloister/web/server.h"

namespace {

using namespace cloister;
namespace fs = std::filesystem;

app::SearchHit Hit(const std::string& text, int64_t id) {
  app::SearchHit hit;
  hit.chunk_id = id;
  hit.document_id = id;
  hit.path = "/data/originals/" + text.substr(0, 16);
  hit.title = text;
  hit.type = id % 2 ? "email" : "pdf";
  hit.page = id % 2 ? std::nullopt : std::optional<int>(static_cast<int>(id));
  hit.from = "Ann <ann@example.org>";
  hit.subject = text;
  hit.text = text;
  hit.snippet = "«" + text + "»";
  hit.score = 1.0 / static_cast<double>(id);
  return hit;
}

app::DocumentInfo Document(int64_t id) {
  app::DocumentInfo d;
  d.id = id;
  d.path = "/data/originals/doc" + std::to_string(id);
  d.name = "doc" + std::to_string(id) + ".pdf";
  d.title = "Document <b>" + std::to_string(id) + "</b>";
  d.type = "pdf";
  d.status = "ready";
  d.pages = 2;
  d.chunks = 3;
  return d;
}

app::ModelEntry Model(const char* name, const char* kind) {
  app::ModelEntry m;
  m.path = std::string("/models/") + name;
  m.name = name;
  m.kind = kind;
  m.dimension = 4;
  m.context_length = 512;
  return m;
}

// Answers every call at once from its arguments; ids 1 to 9 exist, others are not found.
class CannedKnowledgeBase final : public app::KnowledgeBase {
 public:
  explicit CannedKnowledgeBase(const fs::path& dir) {
    config_.data_dir = dir / "data";
    fs::create_directories(config_.uploads_dir());
    original_ = dir / "report \"q3\" ü.pdf";
    std::ofstream(original_) << "%PDF-1.4 not really\n";
  }
  const app::Config& config() const override { return config_; }
  Result<app::StatusReport> Status(const app::Caller&) override {
    app::StatusReport s;
    s.version = "fuzz";
    s.data_dir = config_.data_dir;
    s.documents = 9;
    s.embedding_model = Model("embed.gguf", "embedding");
    s.chat_model = Model("chat.gguf", "chat");
    s.retrieval_mode = "hybrid";
    s.answer_mode = "generated";
    s.index_kind = "flat";
    return s;
  }
  Result<app::IngestReport> Ingest(const std::vector<fs::path>&,
                                   const std::function<void(const app::IngestProgress&)>&) override {
    return Internal("not served over HTTP");
  }
  Result<app::SearchResults> Search(const app::Caller& caller, const std::string& query,
                                    int k) override {
    app::SearchOptions options;
    options.k = k;
    return Search(caller, query, options);
  }
  Result<app::SearchResults> Search(const app::Caller&, const std::string& query,
                                    const app::SearchOptions& options) override {
    if (query.empty()) return InvalidArgument("empty query");
    app::SearchResults r;
    r.mode = "hybrid";
    for (int i = 1; i <= std::min(options.k, 3); ++i) r.results.push_back(Hit(query, i));
    r.skipped_words.push_back(query.substr(0, 8));
    return r;
  }
  cloister::Status DeleteDocument(int64_t id) override {
    return Exists(id) ? cloister::Status::Ok() : NotFound("no document " + std::to_string(id));
  }
  Result<app::DocumentList> ListDocuments(const app::Caller&, int64_t offset,
                                         int64_t limit) override {
    app::DocumentList list;
    list.total = 9;
    for (int64_t id = offset + 1; id <= 9 && id <= offset + limit; ++id)
      list.documents.push_back(Document(id));
    return list;
  }
  Result<app::DocumentInfo> GetDocument(const app::Caller&, int64_t id) override {
    if (!Exists(id)) return NotFound("no document " + std::to_string(id));
    return Document(id);
  }
  Result<std::vector<app::PassageInfo>> DocumentPassages(const app::Caller&, int64_t id) override {
    if (!Exists(id)) return NotFound("no document " + std::to_string(id));
    return std::vector<app::PassageInfo>{{id, 0, 1, "a passage"}, {id + 1, 1, std::nullopt, "two"}};
  }
  Result<fs::path> OriginalFile(const app::Caller&, int64_t id) override {
    if (!Exists(id)) return NotFound("no document " + std::to_string(id));
    return original_;
  }
  Result<app::JobInfo> GetJob(const app::Caller&, int64_t id) override {
    if (!Exists(id)) return NotFound("no job " + std::to_string(id));
    app::JobInfo job;
    job.id = id;
    job.state = "done";
    job.progress = 1;
    return job;
  }
  Result<app::TextEmbeddings> Embed(const std::vector<std::string>& texts, bool) override {
    app::TextEmbeddings e;
    e.model = "embed.gguf";
    for (const std::string& t : texts) {
      e.vectors.push_back({static_cast<float>(t.size()), 0.5f, -0.5f, 0});
      e.tokens += static_cast<int64_t>(t.size() / 4 + 1);
    }
    return e;
  }
  Result<app::JobInfo> AddUpload(const app::Caller&, const fs::path& staged,
                                 const std::string& name, const std::string&) override {
    std::error_code ec;
    fs::remove(staged, ec);  // only the staging is under test
    app::JobInfo job;
    job.id = 1;
    job.name = name;
    job.path = staged.string();
    job.state = "queued";
    return job;
  }
  Result<app::Answer> Ask(const app::Caller&, const std::string& question, const app::AskOptions& options,
                          const app::AnswerCallback& on_token) override {
    if (question.empty()) return InvalidArgument("empty question");
    app::Answer a;
    a.mode = "generated";
    a.text = question + " [1]";
    for (size_t i = 0; on_token && i < a.text.size(); i += 5) {
      if (!on_token(std::string_view(a.text).substr(i, 5))) {
        a.stop = "cancelled";
        return a;
      }
    }
    a.sources.push_back({1, Hit(question, 1)});
    a.sentences.push_back({a.text, {1}});
    a.search_mode = "hybrid";
    a.search_query = question;
    a.passages_considered = std::min(options.k, 3);
    a.stop = "end";
    return a;
  }
  cloister::Status Reembed(const std::function<void(const app::StatusReport::Reembedding&)>&) override {
    return Internal("not served over HTTP");
  }
  Result<app::BackupReport> Backup(const fs::path&) override {
    return Internal("not served over HTTP");
  }
  cloister::Status StartBackground() override { return cloister::Status::Ok(); }
  void StopBackground() override {}

 private:
  static bool Exists(int64_t id) { return id >= 1 && id <= 9; }
  app::Config config_;
  fs::path original_;
};

std::unique_ptr<CannedKnowledgeBase> kb;
std::unique_ptr<web::Server> server;

[[noreturn]] void Fail(const char* what) {
  std::perror(what);
  std::abort();
}

// libFuzzer's SIGALRM (its -timeout clock) interrupts blocking calls: each is resumed.
void Connect(int fd) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return;
  if (errno != EINTR) Fail("connect");
  pollfd p{fd, POLLOUT, 0};  // an interrupted connect goes on by itself
  while (poll(&p, 1, -1) != 1) {
    if (errno != EINTR) Fail("poll");
  }
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
    errno = error;
    Fail("connect");
  }
}

// Sends `data` as one connection's bytes, half-closes, and returns all the server sent back.
// A reply that has not ended after 20 s is a finding: the server hangs on that input.
std::string Exchange(const uint8_t* data, size_t size) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) Fail("socket");
  Connect(fd);
  // The server may answer (and close) before reading everything: a failed send is not an error.
  for (size_t sent = 0; sent < size;) {
    ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[65536];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready != 1) {
      std::fprintf(stderr, "fuzz check failed: the reply did not end within 20 s\n");
      std::abort();
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset after a refusal)
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::signal(SIGPIPE, SIG_IGN);
  log::SetLevel(log::Level::kOff);
  char tmpl[] = "/tmp/cloister-fuzz-http-XXXXXX";
  if (!mkdtemp(tmpl)) Fail("mkdtemp");
  kb = std::make_unique<CannedKnowledgeBase>(tmpl);
  web::ServerOptions options;
  options.bind = "127.0.0.1";
  options.port = 0;
  options.threads = 4;
  options.timeout_seconds = 5;
  options.header_timeout_seconds = 5;
  options.max_body_bytes = 64 << 10;
  options.max_upload_bytes = 64 << 10;
  server = std::make_unique<web::Server>(*kb, options);
  Status started = server->Start();
  if (!started.ok()) {
    std::fprintf(stderr, "cannot start the server: %s\n", started.message().c_str());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string reply = Exchange(data, size);
  if (!reply.empty() && reply.rfind("HTTP/1.", 0) != 0) {
    std::fprintf(stderr, "fuzz check failed: a reply that is not HTTP: %.200s\n", reply.c_str());
    std::abort();
  }
  return 0;
}
