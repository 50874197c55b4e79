// Nothing leaves the machine: `cloister ingest` and `cloister serve` (watcher, search, a generated
// answer with an embedding and a chat model loaded) run in a network namespace that has only
// loopback, under strace, and every address any of their processes tried to reach is read from
// the trace: only loopback and local sockets may appear. The namespace alone would hide an
// attempt (it fails with ENETUNREACH); the trace shows it.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>

#include <cstdio>
#include <cstring>

#include "fixtures/fixtures.h"
#include "serve_process.h"

namespace cloister {
namespace {

namespace fs = std::filesystem;
using serving::ReadAll;
using serving::WaitExit;

// Moves the calling thread (and so every process it starts) into a new network namespace with
// only `lo`, up; the destructor moves it back.
class LoopbackOnlyNetwork {
 public:
  LoopbackOnlyNetwork() {
    saved_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved_ < 0 || unshare(CLONE_NEWNET) != 0) {
      error_ = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    entered_ = true;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr)) != 0) {
      error_ = std::string("bringing lo up: ") + std::strerror(errno);
    }
    if (s >= 0) close(s);
  }
  ~LoopbackOnlyNetwork() {
    if (entered_) setns(saved_, CLONE_NEWNET);
    if (saved_ >= 0) close(saved_);
  }
  const std::string& error() const { return error_; }

 private:
  int saved_ = -1;
  bool entered_ = false;
  std::string error_;
};

std::vector<std::string> Interfaces() {
  std::vector<std::string> names;
  if (struct if_nameindex* all = if_nameindex()) {
    for (struct if_nameindex* i = all; i->if_index != 0; ++i) names.push_back(i->if_name);
    if_freenameindex(all);
  }
  return names;
}

// The lines of an `strace -f -e trace=%network` log that reach for an address other than
// loopback, a local (AF_UNIX) socket or the kernel (AF_NETLINK): connect, sendto, sendmsg.
std::vector<std::string> Egress(const std::string& trace) {
  std::vector<std::string> out;
  std::istringstream lines(trace);
  for (std::string line; std::getline(lines, line);) {
    bool reaches = line.find("connect(") != std::string::npos ||
                   line.find("sendto(") != std::string::npos ||
                   line.find("sendmsg(") != std::string::npos;
    if (!reaches) continue;
    size_t family = line.find("sa_family=");
    if (family == std::string::npos) continue;  // on a connected socket: its connect was read
    std::string kind = line.substr(family + 10, line.find_first_of(",}", family) - family - 10);
    if (kind == "AF_UNIX" || kind == "AF_NETLINK") continue;
    if (kind == "AF_INET" && line.find("inet_addr(\"127.") != std::string::npos) continue;
    if (kind == "AF_INET6" && line.find("\"::1\"") != std::string::npos) continue;
    out.push_back(line);
  }
  return out;
}

// `cloister ARGS` traced by strace into `trace`.
pid_t StartTraced(const fs::path& trace, std::vector<std::string> args, const fs::path& out,
                  const fs::path& err) {
  std::vector<std::string> all = {"-f", "-qq", "-e", "trace=%network", "-e", "signal=none",
                                  "-o", trace.string(), "--", CLOISTER_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  return serving::StartProgram("strace", std::move(all), out, err);
}

// The pid of the process strace started (its first child).
pid_t TracedChild(pid_t strace) {
  for (int i = 0; i < 200; ++i) {
    std::string children =
        ReadAll("/proc/" + std::to_string(strace) + "/task/" + std::to_string(strace) + "/children");
    if (!children.empty()) return static_cast<pid_t>(std::stol(children));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

Poco::JSON::Object::Ptr Body(const std::string& response) {
  size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return nullptr;
  try {
    return Poco::JSON::Parser().parse(response.substr(body + 4)).extract<Poco::JSON::Object::Ptr>();
  } catch (const Poco::Exception&) {
    return nullptr;
  }
}

TEST(NoEgressTest, IngestionSearchAndAGeneratedAnswerReachForNothingButLoopback) {
  if (geteuid() != 0) GTEST_SKIP() << "a network namespace needs root (CI runs as root)";
  fixtures::TempDir dir;
  for (const char* sub : {"models", "docs", "inbox"}) fs::create_directories(dir / sub);
  fs::copy_file(fixtures::StoriesModel(), dir / "models" / "stories260K.gguf");
  fs::copy_file(fixtures::TinyEmbeddingModel(), dir / "models" / "embed.gguf");
  fs::copy_file(fs::path(CLOISTER_SHARED_DIR) / "corpus/pdfs/pdfjs/tracemonkey.pdf",
                dir / "docs" / "tracemonkey.pdf");
  std::ofstream(dir / "docs" / "river.txt")
      << "The little dog Max lived in a small house by the river. Every morning Max ran to the park "
         "to play with his friend Lily, who had a red ball and a big smile.\n";

  LoopbackOnlyNetwork network;
  ASSERT_EQ(network.error(), "");
  ASSERT_EQ(Interfaces(), std::vector<std::string>{"lo"}) << "the namespace has only loopback";

  std::vector<std::string> where = {"--data", (dir / "data").string(), "--models",
                                    (dir / "models").string()};
  std::vector<std::string> ingest = {"ingest", (dir / "docs").string()};
  ingest.insert(ingest.end(), where.begin(), where.end());
  pid_t ingesting = StartTraced(dir / "ingest.trace", ingest, dir / "ingest.out", dir / "ingest.err");
  ASSERT_EQ(WaitExit(ingesting, std::chrono::seconds(300)), 0) << ReadAll(dir / "ingest.err");

  std::vector<std::string> serve = {"serve", "--port", "0", "--inbox", (dir / "inbox").string()};
  serve.insert(serve.end(), where.begin(), where.end());
  pid_t tracer = StartTraced(dir / "serve.trace", serve, dir / "serve.out", dir / "serve.err");
  std::optional<uint16_t> port = serving::WaitForPort(dir / "serve.err");
  ASSERT_TRUE(port) << ReadAll(dir / "serve.err");

  // The watcher ingests a file dropped in the inbox.
  std::ofstream(dir / "inbox" / "lighthouse.txt")
      << "The lighthouse keeper rang the brass bell at noon. The bell could be heard across the "
         "bay.\n";
  bool watched = false;
  for (int i = 0; i < 600 && !watched; ++i) {
    std::string documents = serving::Exchange(*port, "GET", "/api/v1/documents");
    watched = documents.find("lighthouse.txt") != std::string::npos &&
              documents.find("\"ready\"") != std::string::npos &&
              documents.find("\"queued\"") == std::string::npos &&
              documents.find("\"processing\"") == std::string::npos;
    if (!watched) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(watched) << serving::Exchange(*port, "GET", "/api/v1/documents");

  auto search = Body(serving::Exchange(*port, "POST", "/api/v1/search",
                                       R"({"query": "brass bell lighthouse", "k": 3})"));
  ASSERT_TRUE(search);
  EXPECT_EQ(search->getValue<std::string>("mode"), "hybrid");
  ASSERT_GT(search->getArray("results")->size(), 0u);
  auto answer = Body(serving::Exchange(
      *port, "POST", "/api/v1/ask",
      R"({"question": "What did Max do every morning?", "k": 3, "max_tokens": 24})"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->getValue<std::string>("mode"), "generated");
  EXPECT_TRUE(answer->getValue<bool>("evidence"));  // the model was called, with passages
  EXPECT_GT(answer->getObject("search")->getValue<int>("passages"), 0);
  EXPECT_GT(answer->getObject("usage")->getValue<int>("completion_tokens"), 0);

  pid_t server = TracedChild(tracer);
  ASSERT_GT(server, 0);
  kill(server, SIGTERM);
  EXPECT_EQ(WaitExit(tracer, std::chrono::seconds(60)), 0) << ReadAll(dir / "serve.err");

  std::string ingest_trace = ReadAll(dir / "ingest.trace");
  std::string serve_trace = ReadAll(dir / "serve.trace");
  // The trace saw the service's own sockets: a test that traced nothing would prove nothing.
  EXPECT_NE(serve_trace.find("bind("), std::string::npos) << serve_trace.substr(0, 2000);
  EXPECT_NE(serve_trace.find("accept"), std::string::npos) << serve_trace.substr(0, 2000);
  auto reached = Egress(ingest_trace);
  for (const auto& line : Egress(serve_trace)) reached.push_back(line);
  EXPECT_EQ(reached, std::vector<std::string>{}) << "an address beyond loopback was reached for";
  EXPECT_EQ(Egress("1 connect(3, {sa_family=AF_INET, sin_port=htons(53), "
                   "sin_addr=inet_addr(\"10.0.0.2\")}, 16) = -1 ENETUNREACH")
                .size(),
            1u)
      << "the trace reader must see an attempt";
  EXPECT_EQ(Egress("1 sendto(3, \"x\", 1, 0, {sa_family=AF_INET6, sin6_port=htons(53), "
                   "inet_pton(AF_INET6, \"2001:db8::1\", &sin6_addr)}, 28) = -1 EADDRNOTAVAIL")
                .size(),
            1u);
}

// The binary links no HTTP client library: llama.cpp is built without curl (DESIGN.md), and the
// optional remote generation backend uses Poco's, which only talks to a configured endpoint.
TEST(NoEgressTest, TheBinaryLinksNoHttpClientLibrary) {
  std::string command = std::string("ldd ") + CLOISTER_BINARY;
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string libraries;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) libraries.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0) << libraries;
  ASSERT_NE(libraries.find("libc.so"), std::string::npos) << libraries;
  for (const char* client : {"libcurl", "libwget", "libsoup", "libneon", "libserf"}) {
    EXPECT_EQ(libraries.find(client), std::string::npos) << client << " is linked:\n" << libraries;
  }
}

}  // namespace
}  // namespace cloister
