// The cloister command: CLI commands and `serve` (DESIGN.md's CLI contract).
// Exit status: 0 success, 1 user error (clear message), 2 internal error.
#include <pwd.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cloister/app/accounts.h"
#include "cloister/app/doctor.h"
#include "cloister/app/settings.h"
#include "cloister/app/knowledge_base.h"
#include "cloister/core/dates.h"
#include "cloister/core/log.h"
#include "cloister/core/version.h"
#include "cloister/ingest/sandbox.h"
#include "cloister/web/audit_log.h"
#include "cloister/web/auth.h"
#include "cloister/web/json.h"
#include "cloister/web/remote_chat.h"
#include "cloister/web/server.h"

namespace {

using cloister::Status;
using cloister::StatusCode;
namespace app = cloister::app;
namespace web = cloister::web;

constexpr int kExitOk = 0;
constexpr int kExitUser = 1;
constexpr int kExitInternal = 2;

constexpr const char* kUsage = R"(usage: cloister [--data DIR] [--models DIR] [--json] COMMAND [ARGS]

Answers questions about your own documents, on your own server.

commands:
  ingest PATH...        ingest files or folders and wait until done
  search QUERY [--k N]  find the passages that best match QUERY
        [--mode auto|lexical|vector|hybrid] [--type T] [--from SENDER]
        [--after YYYY-MM-DD] [--before YYYY-MM-DD] [--mmr]
        [--rrf-k K] [--vector-weight W] [--lexical-weight W]
  ask QUESTION [--k N]  answer QUESTION from the documents, with citations (streamed on a
        [--type T] [--from SENDER] [--after D] [--before D]   terminal)
  status                documents, chunks, failures, models, index and ingestion queue
  doctor                is this installation ready? config, folders, disk, models, clock,
                        catalog and index; exit 1 when a check fails
  config check [FILE]   validate a configuration file (default: the one in use); every
                        mistake with its line and setting
  config show           every setting, its value here and what it means
  serve [--port P] [--bind ADDR] [--inbox DIR] [--shutdown-grace S] [--auth]
                        run the web service and watch the inbox folder; on SIGTERM or
                        Ctrl-C, answers in progress get S seconds to finish (default 120).
                        --auth: every API call needs a user (docs/security.md); without it
                        serve refuses any address but loopback, unless --insecure-no-auth
  models                the models in the models folder: kind, size, quantization, loads
  reembed               after a change of embedding model: embed every chunk with the new
                        model now (serve does it in the background), then switch to it
  backup DEST           copy the catalog, vector index and uploaded files into the new folder
                        DEST, while the service keeps running (docs/durability.md)
  restore SRC [--replace]
                        put the backup in SRC in place (stop the service first); --replace
                        moves existing data aside into the data folder's replaced-<time>/

accounts (docs/security.md; passwords are read from stdin, one line, never from arguments):
  user add NAME --role admin|user   a new user
  user del NAME                     remove a user with their keys and sessions
  user passwd NAME                  set a new password (ends the user's sessions)
  user list                         users, roles and granted collections
  apikey create NAME                a new API key for user NAME, printed once
  apikey revoke KEY_ID              refuse that key from now on
  apikey list                       keys by id, user and public prefix (never the key)
  collection add NAME --folder DIR  a collection and the folder its files come from
  grant NAME COLLECTION             let user NAME read (and upload into) the collection
  revoke NAME COLLECTION            take that back

ingestion (ingest and serve):
  --workers N           files extracted at once (default 2)
  --timeout S           time limit per file, seconds (default 300)
  --memory-mb N         memory limit of the extraction process (default 2048)
  --no-ocr              do not OCR PDF pages without a text layer
  --ocr-languages L     tesseract languages (default eng; e.g. eng+deu)
  --pdf-password P      try P on encrypted PDFs (repeatable)

options:
  --config FILE   the configuration file (default ./cloister.conf, else
                  /etc/cloister/cloister.conf, when they exist; docs/configuration.md).
                  Flags win over CLOISTER_<SECTION>_<KEY> variables, which win over the file
  --data DIR      data folder (default ./data)
  --models DIR    models folder with *.gguf files (default ./models)
  --json          machine-readable output on stdout; logs stay on stderr
  --chat-url URL  answer with an OpenAI-compatible server on the intranet (http://host:port)
                  instead of a local chat model; --chat-model NAME picks its model, and
                  CLOISTER_CHAT_API_KEY in the environment is sent as a bearer token
  --chat-context N  tokens of context per answer, prompt and answer (default 4096; a remote
                  server's per-request context, a local model's is capped at its own)
  --query-prefix S, --document-prefix S
                  text put before queries / passages for the embedding model, instead of
                  what its family expects (a new document prefix re-embeds everything)
  --help          this text
  --version       print the version

exit status: 0 success, 1 user error, 2 internal error
)";

struct Args {
  app::Config config;
  bool json = false;
  bool help = false;
  bool version = false;
  std::string command;
  std::vector<std::string> positional;
  int k = 10;
  bool k_given = false;
  std::filesystem::path config_file;  // the configuration file read, "" for none
  bool replace = false;      // restore: move the current data aside
  std::string role;          // user add
  std::optional<std::string> folder;  // collection add
  app::SearchOptions search;
};

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kNotFound:
    case StatusCode::kPermissionDenied: return kExitUser;
    default: return kExitInternal;
  }
}

// Reports `status` on stderr (and as JSON on stdout with --json); returns the exit code.
int Fail(const Args& args, const Status& status, const std::string& hint = "") {
  std::cerr << "cloister: " << status.message() << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  if (args.json) std::cout << web::ErrorJson(status, hint) << "\n";
  return ExitCodeFor(status);
}

bool ParseNumber(const std::string& text, long min, long max, long* out) {
  try {
    size_t used = 0;
    long v = std::stol(text, &used);
    if (used != text.size() || v < min || v > max) return false;
    *out = v;
    return true;
  } catch (...) {
    return false;
  }
}

// Parses flags anywhere on the line. Returns a user-error Status naming the bad flag.
Status Parse(int argc, char** argv, Args* args) {
  std::vector<std::string> in(argv + 1, argv + argc);
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string& a = in[i];
    auto value = [&](std::string* out) -> Status {
      if (i + 1 >= in.size()) return cloister::InvalidArgument(a + " needs a value");
      *out = in[++i];
      return Status::Ok();
    };
    std::string v;
    long n = 0;
    if (a == "--json") { args->json = true; continue; }
    if (a == "--config") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config_file = v; continue; }
    if (a == "--help" || a == "-h") { args->help = true; continue; }
    if (a == "--version") { args->version = true; continue; }
    if (a == "--data") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.data_dir = v; continue; }
    if (a == "--models") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.models_dir = v; continue; }
    if (a == "--inbox") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.inbox_dir = v; continue; }
    if (a == "--bind") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.bind = v; continue; }
    if (a == "--no-ocr") { args->config.ingest.ocr = false; continue; }
    if (a == "--mode") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      static const std::map<std::string, app::SearchMode> kModes = {
          {"auto", app::SearchMode::kAuto}, {"lexical", app::SearchMode::kLexical},
          {"vector", app::SearchMode::kVector}, {"hybrid", app::SearchMode::kHybrid}};
      if (!kModes.count(v)) return cloister::InvalidArgument("--mode is auto, lexical, vector or hybrid, not '" + v + "'");
      args->search.mode = kModes.at(v);
      continue;
    }
    if (a == "--type") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->search.filters.types.push_back(v); continue; }
    if (a == "--from") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->search.filters.from = v; continue; }
    if (a == "--mmr") { args->search.mmr = true; continue; }
    if (a == "--replace") { args->replace = true; continue; }
    if (a == "--auth") { args->config.auth = true; continue; }
    if (a == "--insecure-no-auth") { args->config.insecure_no_auth = true; continue; }
    if (a == "--role") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->role = v; continue; }
    if (a == "--folder") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->folder = v; continue; }
    if (a == "--chat-url") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.answer.remote_url = v; continue; }
    if (a == "--chat-model") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.answer.remote_model = v; continue; }
    if (a == "--query-prefix") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.retrieval.query_prefix = v; continue; }
    if (a == "--document-prefix") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      args->config.retrieval.document_prefix = v;
      continue;
    }
    if (a == "--rrf-k" || a == "--vector-weight" || a == "--lexical-weight") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      double x = 0;
      size_t used = 0;
      try {
        x = std::stod(v, &used);
      } catch (...) {
        used = 0;
      }
      bool ok = used == v.size() && std::isfinite(x) && (a == "--rrf-k" ? x >= 0 && x <= 1e6 : x >= 0 && x <= 100);
      if (!ok) {
        return cloister::InvalidArgument(a + " needs a number " + (a == "--rrf-k" ? "from 0 to 1000000" : "from 0 to 100") +
                                         ", got '" + v + "'");
      }
      if (a == "--rrf-k") args->config.retrieval.rrf_k = x;
      if (a == "--vector-weight") args->config.retrieval.vector_weight = x;
      if (a == "--lexical-weight") args->config.retrieval.lexical_weight = x;
      continue;
    }
    if (a == "--after" || a == "--before") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      std::optional<int64_t> t = cloister::ParseIsoDate(v);
      if (!t) return cloister::InvalidArgument(a + " needs a date like 2024-03-01, got '" + v + "'");
      (a == "--after" ? args->search.filters.after : args->search.filters.before) = *t;
      continue;
    }
    if (a == "--ocr-languages") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.ingest.ocr_languages = v; continue; }
    if (a == "--pdf-password") { CLOISTER_RETURN_IF_ERROR(value(&v)); args->config.ingest.pdf_passwords.push_back(v); continue; }
    if (a == "--timeout" || a == "--memory-mb" || a == "--workers") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      if (!ParseNumber(v, 1, 1 << 20, &n)) return cloister::InvalidArgument(a + " needs a positive number, got '" + v + "'");
      if (a == "--timeout") args->config.ingest.timeout_seconds = static_cast<int>(n);
      if (a == "--memory-mb") args->config.ingest.memory_mb = static_cast<uint64_t>(n);
      if (a == "--workers") args->config.ingest.workers = static_cast<int>(n);
      continue;
    }
    if (a == "--shutdown-grace") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      if (!ParseNumber(v, 0, 86400, &n)) {
        return cloister::InvalidArgument(a + " needs a number of seconds from 0 to 86400, got '" +
                                         v + "'");
      }
      args->config.shutdown_grace_seconds = static_cast<int>(n);
      continue;
    }
    if (a == "--chat-context") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      if (!ParseNumber(v, 256, 1 << 20, &n)) return cloister::InvalidArgument(a + " needs a number of tokens from 256, got '" + v + "'");
      args->config.answer.context_tokens = static_cast<uint32_t>(n);
      continue;
    }
    if (a == "--port" || a == "--k") {
      CLOISTER_RETURN_IF_ERROR(value(&v));
      if (!ParseNumber(v, a == "--port" ? 0 : 1, a == "--port" ? 65535 : 1000, &n)) {
        return cloister::InvalidArgument(a + " needs a number" +
                                         (a == "--port" ? " from 0 to 65535" : " from 1 to 1000") +
                                         ", got '" + v + "'");
      }
      if (a == "--port") {
        args->config.port = static_cast<uint16_t>(n);
      } else {
        args->k = static_cast<int>(n);
        args->k_given = true;
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-') return cloister::InvalidArgument("unknown option " + a);
    if (args->command.empty()) args->command = a; else args->positional.push_back(a);
  }
  return Status::Ok();
}

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) { v /= 1024; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void PrintModelLine(const char* label, const std::optional<app::ModelEntry>& m) {
  std::cout << "  " << label << ": ";
  if (!m) {
    std::cout << "none\n";
    return;
  }
  std::cout << m->name << " (" << m->path.filename().string() << ", " << m->quantization << ")\n";
}

// The knowledge base, answering through the configured remote chat server if there is one.
cloister::Result<std::unique_ptr<app::KnowledgeBase>> OpenForAnswers(const Args& args) {
  const app::AnswerConfig& a = args.config.answer;
  if (a.remote_url.empty()) return app::KnowledgeBase::Open(args.config);
  CLOISTER_ASSIGN_OR_RETURN(
      std::shared_ptr<app::ChatBackend> chat,
      web::OpenRemoteChat({.url = a.remote_url, .model = a.remote_model, .api_key = a.remote_api_key,
                           .context_tokens = a.context_tokens}));
  return app::KnowledgeBase::Open(args.config, std::move(chat));
}

int RunStatus(const Args& args) {
  auto kb = app::KnowledgeBase::Open(args.config);
  if (!kb.ok()) return Fail(args, kb.status());
  auto status = (*kb)->Status(app::Caller::Everything());
  if (!status.ok()) return Fail(args, status.status());
  const app::StatusReport& s = *status;
  if (args.json) {
    std::cout << web::StatusJson(s) << "\n";
    return kExitOk;
  }
  std::cout << "cloister " << s.version << ", data in " << s.data_dir.string() << "\n";
  std::cout << "documents: " << s.documents;
  for (const auto& [name, n] : s.documents_by_status) std::cout << "  " << name << " " << n;
  std::cout << "\nchunks: " << s.chunks << "  embeddings: " << s.embeddings << "\n";
  std::cout << "queue:";
  for (const auto& [name, n] : s.jobs_by_state) std::cout << "  " << name << " " << n;
  std::cout << "\nmodels:\n";
  PrintModelLine("embedding", s.embedding_model);
  PrintModelLine("chat", s.chat_model);
  std::cout << "retrieval: " << s.retrieval_mode << "  answers: " << s.answer_mode << "\n";
  std::cout << "index: " << s.index_kind << ", " << s.index_size << " vectors\n";
  if (s.reembedding) {
    const auto& r = *s.reembedding;
    std::cout << "re-embedding: " << r.done << "/" << r.total << " chunks from " << r.from << " to " << r.to
              << (r.old_vectors_serve ? " (the old vectors serve meanwhile)"
                                      : " (search is lexical meanwhile: " + r.from + " is gone)")
              << "; `cloister serve` or `cloister reembed` finishes it\n";
  }
  return kExitOk;
}

int RunReembed(const Args& args) {
  auto kb = app::KnowledgeBase::Open(args.config);
  if (!kb.ok()) return Fail(args, kb.status());
  auto before = (*kb)->Status(app::Caller::Everything());
  if (!before.ok()) return Fail(args, before.status());
  bool tty = ::isatty(2) == 1;
  auto start = std::chrono::steady_clock::now();
  double last = -10;
  Status done = (*kb)->Reembed([&](const app::StatusReport::Reembedding& p) {
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!tty && t - last < 5 && p.done < p.total) return;
    last = t;
    std::fprintf(stderr, tty ? "\rre-embedding: %lld/%lld chunks with %s  %.0f chunks/s\x1b[K"
                             : "re-embedding: %lld/%lld chunks with %s  %.0f chunks/s\n",
                 static_cast<long long>(p.done), static_cast<long long>(p.total), p.to.c_str(),
                 t > 0 ? static_cast<double>(p.done) / t : 0.0);
  });
  if (tty) std::fprintf(stderr, "\n");
  if (!done.ok()) return Fail(args, done);
  auto after = (*kb)->Status(app::Caller::Everything());
  if (!after.ok()) return Fail(args, after.status());
  if (args.json) {
    std::cout << web::StatusJson(*after) << "\n";
  } else if (!before->reembedding) {
    std::cout << "nothing to re-embed: every chunk has a vector from the model in use\n";
  } else {
    std::cout << "re-embedded " << after->chunks << " chunks; search now uses " << before->reembedding->to << "\n";
  }
  return kExitOk;
}

void PrintBackup(const Args& args, const app::BackupReport& r, const char* verb) {
  if (args.json) {
    std::cout << web::BackupJson(r) << "\n";
  } else {
    std::printf("%s %lld documents, %lld chunks, %lld vectors (%lld files, %.1f MiB) in %.1f s\n", verb,
                static_cast<long long>(r.documents), static_cast<long long>(r.chunks),
                static_cast<long long>(r.embeddings), static_cast<long long>(r.files),
                static_cast<double>(r.bytes) / (1 << 20), r.seconds);
  }
}

// Who runs this command: the login behind sudo when there is one, else this process's user.
std::string OperatingUser() {
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) return sudo;
  if (passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "uid " + std::to_string(getuid());
}

// Records an administrative action taken from the command line in the data folder's audit log
// (the service's own log, docs/security.md). Failing to write it is logged, never fatal.
void AuditCli(const Args& args, const std::string& action, const std::string& text,
              std::vector<std::pair<std::string, std::string>> details = {}) {
  auto audit = web::AuditLog::Open(args.config.data_dir / "audit" / "audit.log",
                                   {.rotate_bytes = args.config.audit_rotate_bytes, .keep = args.config.audit_keep});
  if (!audit.ok()) {
    cloister::log::Warn("audit", "cannot write the audit log", {{"error", audit.status().message()}});
    return;
  }
  (*audit)->Record({.action = action, .user = OperatingUser(), .auth = "cli", .text = text, .details = std::move(details)});
}

int RunBackup(const Args& args) {
  if (args.positional.size() != 1) {
    return Fail(args, cloister::InvalidArgument("backup needs one destination folder"), "cloister backup DEST");
  }
  auto kb = app::KnowledgeBase::Open(args.config);
  if (!kb.ok()) return Fail(args, kb.status());
  auto report = (*kb)->Backup(args.positional[0]);
  if (!report.ok()) return Fail(args, report.status());
  AuditCli(args, "backup", args.positional[0]);
  PrintBackup(args, *report, "backed up");
  return kExitOk;
}

int RunRestore(const Args& args) {
  if (args.positional.size() != 1) {
    return Fail(args, cloister::InvalidArgument("restore needs the backup folder"), "cloister restore SRC [--replace]");
  }
  auto report = app::RestoreBackup(args.config, args.positional[0], args.replace);
  if (!report.ok()) return Fail(args, report.status());
  AuditCli(args, "restore", args.positional[0], {{"replace", args.replace ? "true" : "false"}});
  PrintBackup(args, *report, "restored");
  return kExitOk;
}

int RunModels(const Args& args) {
  std::vector<app::ModelEntry> models = app::ListModels(args.config.models_dir, /*try_load=*/true);
  if (args.json) {
    std::cout << web::ModelsJson(models) << "\n";
    return kExitOk;
  }
  if (models.empty()) {
    std::cout << "no models in " << args.config.models_dir.string()
              << " (put *.gguf files there; see README.md, \"Models\")\n";
    return kExitOk;
  }
  for (const auto& m : models) {
    std::printf("%-40s %-9s %-8s %10s  %s\n", m.path.filename().string().c_str(), m.kind.c_str(),
                m.quantization.c_str(), HumanSize(m.size_bytes).c_str(),
                m.loads.value_or(false) ? "loads" : ("does not load: " + m.error).c_str());
  }
  return kExitOk;
}

void WarnWithoutUsers(const app::Config& config) {
  auto accounts = app::Accounts::Open(config);
  if (!accounts.ok()) return;  // Start reports it
  auto users = (*accounts)->ListUsers();
  if (users.ok() && users->empty()) {
    cloister::log::Warn("serve", "authentication is on but there is no user yet",
                        {{"hint", "cloister user add NAME --role admin"}});
  }
}

int RunServe(const Args& args) {
  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Status secure = app::CheckServeSecurity(args.config);
  if (!secure.ok()) return Fail(args, secure);
  if (!args.config.auth) {
    cloister::log::Warn("serve", "authentication is off: anyone who reaches this address reads "
                                 "every document", {{"bind", args.config.bind}});
  }
  auto kb = OpenForAnswers(args);
  if (!kb.ok()) return Fail(args, kb.status());
  web::ServerOptions options;
  options.bind = args.config.bind;
  options.port = args.config.port;
  options.threads = args.config.http_threads;
  options.auth = args.config.auth;
  options.session_idle_seconds = args.config.session_idle_seconds;
  options.max_upload_bytes = args.config.max_upload_bytes;
  options.audit_log = args.config.data_dir / "audit" / "audit.log";
  options.audit_rotate_bytes = args.config.audit_rotate_bytes;
  options.audit_keep = args.config.audit_keep;
  options.client_requests_per_second = args.config.client_requests_per_second;
  options.client_burst = args.config.client_burst;
  options.client_concurrent_answers = args.config.client_concurrent_answers;
  options.client_concurrent_requests = args.config.client_concurrent_requests;
  if (options.auth) WarnWithoutUsers(args.config);
  Status watching = (*kb)->StartBackground();
  if (!watching.ok()) return Fail(args, watching);
  web::Server server(**kb, options);
  Status started = server.Start();
  if (!started.ok()) return Fail(args, started, "choose another --port or stop the other service");
  cloister::log::Info("serve", "listening",
                      {{"url", "http://" + options.bind + ":" + std::to_string(server.port())},
                       {"data", args.config.data_dir.string()},
                       {"inbox", args.config.inbox_dir.string()}});
  int sig = 0;
  sigwait(&stop_signals, &sig);
  cloister::log::Info("serve", "stopping",
                      {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"},
                       {"grace_seconds", std::to_string(args.config.shutdown_grace_seconds)}});
  server.Stop(args.config.shutdown_grace_seconds);
  (*kb)->StopBackground();
  cloister::log::Info("serve", "stopped");
  return kExitOk;
}

// One status line: a redrawn bar on a terminal, a plain line every few seconds otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(::isatty(2) == 1) {}

  void Update(const app::IngestProgress& p) {
    double rate = p.seconds > 0 ? p.files_done / p.seconds : 0;
    double eta = rate > 0 ? (p.files_total - p.files_done) / rate : 0;
    char line[256];
    std::snprintf(line, sizeof line, "%lld/%lld files (%lld failed)  %lld pages  %lld chunks  %.1f files/s  ETA %d:%02d",
                  static_cast<long long>(p.files_done), static_cast<long long>(p.files_total),
                  static_cast<long long>(p.files_failed), static_cast<long long>(p.pages),
                  static_cast<long long>(p.chunks), rate, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
    if (tty_) {
      int width = 24;
      int filled = p.files_total > 0 ? static_cast<int>(width * p.files_done / p.files_total) : width;
      std::fprintf(stderr, "\r[%s%s] %s\x1b[K", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), line);
    } else if (p.seconds - last_ >= 5 || p.files_done == p.files_total) {
      if (p.files_done == p.files_total && printed_final_) return;
      printed_final_ = p.files_done == p.files_total;
      last_ = p.seconds;
      std::fprintf(stderr, "ingest: %s\n", line);
    }
    std::fflush(stderr);
  }
  void Finish() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool tty_;
  double last_ = -100;
  bool printed_final_ = false;
};

int RunIngest(const Args& args) {
  if (args.positional.empty()) {
    return Fail(args, cloister::InvalidArgument("ingest needs at least one file or folder"),
                "cloister ingest PATH...");
  }
  auto kb = app::KnowledgeBase::Open(args.config);
  if (!kb.ok()) return Fail(args, kb.status());
  std::vector<std::filesystem::path> paths(args.positional.begin(), args.positional.end());
  ProgressPrinter printer;
  auto report = (*kb)->Ingest(paths, [&](const app::IngestProgress& p) { printer.Update(p); });
  printer.Finish();
  if (!report.ok()) return Fail(args, report.status());
  if (args.json) {
    std::cout << web::IngestJson(*report) << "\n";
    return kExitOk;
  }
  for (const auto& f : report->failed) std::cout << "failed: " << f.path << ": " << f.error << "\n";
  std::cout << report->ingested.size() << " files ingested, " << report->failed.size()
            << " failed; " << report->documents << " documents, " << report->chunks << " chunks\n";
  return kExitOk;
}

int RunSearch(const Args& args) {
  if (args.positional.empty()) {
    return Fail(args, cloister::InvalidArgument("search needs a query"), "cloister search \"refund policy\"");
  }
  std::string query;
  for (const auto& word : args.positional) query += (query.empty() ? "" : " ") + word;
  auto kb = app::KnowledgeBase::Open(args.config);
  if (!kb.ok()) return Fail(args, kb.status());
  app::SearchOptions options = args.search;
  app::SearchOptions defaults = app::SearchDefaults(args.config);
  options.rrf_k = defaults.rrf_k;
  options.vector_weight = defaults.vector_weight;
  options.lexical_weight = defaults.lexical_weight;
  options.k = args.k;
  auto results = (*kb)->Search(app::Caller::Everything(), query, options);
  if (!results.ok()) return Fail(args, results.status());
  if (args.json) {
    std::cout << web::SearchJson(*results) << "\n";
    return kExitOk;
  }
  if (results->results.empty()) std::cout << "no passage matches (" << results->mode << " search)\n";
  if (!results->skipped_words.empty()) {
    std::cout << "too common to match word for word:";
    for (const auto& w : results->skipped_words) std::cout << " " << w;
    std::cout << "\n";
  }
  int n = 0;
  for (const auto& h : results->results) {
    std::cout << ++n << ". " << h.title << (h.page ? " (page " + std::to_string(*h.page) + ")" : "")
              << "  " << h.path << "\n   " << h.snippet << "\n";
  }
  return kExitOk;
}

int RunAsk(const Args& args) {
  std::string question;
  for (const auto& word : args.positional) question += (question.empty() ? "" : " ") + word;
  if (question.empty()) return Fail(args, cloister::InvalidArgument("ask needs a question"), "cloister ask \"...\"");
  auto kb = OpenForAnswers(args);
  if (!kb.ok()) return Fail(args, kb.status());
  app::AskOptions options;
  options.k = args.k_given ? args.k : options.k;
  options.filters = args.search.filters;
  // Streamed to a terminal as it is written; JSON and pipes get the finished answer.
  bool stream = !args.json && ::isatty(1) == 1;
  auto answer = (*kb)->Ask(app::Caller::Everything(), question, options, [&](std::string_view piece) {
    if (stream) {
      std::cout << piece << std::flush;
    }
    return true;
  });
  if (!answer.ok()) return Fail(args, answer.status());
  if (args.json) {
    std::cout << web::AnswerJson(*answer) << "\n";
    return kExitOk;
  }
  // The streamed text may hold markers the final answer dropped: print the final one on its own.
  if (stream) std::cout << "\n\n";
  if (!stream) std::cout << answer->text << "\n\n";
  else if (answer->mode == "generated") std::cout << "answer: " << answer->text << "\n\n";
  std::cout << (answer->mode == "generated" ? "generated by the chat model from the documents"
                                            : "quoted from the documents (no chat model)")
            << (answer->evidence ? "" : "; nothing relevant was found") << "\n";
  for (const auto& s : answer->sources) {
    const app::SearchHit& h = s.passage;
    std::cout << "[" << s.n << "] " << (h.title.empty() ? h.path : h.title)
              << (h.page ? ", page " + std::to_string(*h.page) : "")
              << (h.from.empty() ? "" : ", from " + h.from) << (h.date.empty() ? "" : ", " + h.date) << "  "
              << h.path << "\n";
  }
  return kExitOk;
}

// ---- accounts ----------------------------------------------------------------------------------

// One line of stdin, without its line break; on a terminal the typing is not echoed.
cloister::Result<std::string> ReadPassword(const char* prompt) {
  bool tty = ::isatty(0) == 1;
  termios saved{};
  if (tty) {
    std::cerr << prompt << std::flush;
    tcgetattr(0, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(0, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    tcsetattr(0, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (!got) return cloister::InvalidArgument("no password on stdin (give it as one line)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// A new password, hashed: typed twice on a terminal, one line from a pipe.
cloister::Result<std::string> ReadNewPasswordHash() {
  CLOISTER_ASSIGN_OR_RETURN(std::string password, ReadPassword("password: "));
  if (::isatty(0) == 1) {
    CLOISTER_ASSIGN_OR_RETURN(std::string again, ReadPassword("again: "));
    if (again != password) return cloister::InvalidArgument("the two passwords differ");
  }
  return web::HashPassword(password);
}

std::string Iso(int64_t t) {
  char buf[32];
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int NeedPositional(const Args& args, size_t n, const std::string& usage) {
  return Fail(args, cloister::InvalidArgument(std::string("expected ") + std::to_string(n) +
                                              " argument(s)"),
              usage);
}

int RunUser(const Args& args) {
  const auto& p = args.positional;
  std::string sub = p.empty() ? "" : p[0];
  auto accounts = app::Accounts::Open(args.config);
  if (!accounts.ok()) return Fail(args, accounts.status());
  app::Accounts& a = **accounts;
  if (sub == "list" && p.size() == 1) {
    auto users = a.ListUsers();
    if (!users.ok()) return Fail(args, users.status());
    if (args.json) {
      std::cout << web::UsersJson(*users) << "\n";
      return kExitOk;
    }
    for (const auto& u : *users) {
      std::cout << u.name << "  " << u.role << (u.disabled ? "  disabled" : "") << "  created "
                << Iso(u.created_at);
      for (size_t i = 0; i < u.collections.size(); ++i) std::cout << (i ? ", " : "  collections: ") << u.collections[i];
      std::cout << "\n";
    }
    return kExitOk;
  }
  if ((sub == "add" || sub == "del" || sub == "passwd") && p.size() == 2) {
    const std::string& name = p[1];
    Status done;
    if (sub == "del") {
      done = a.DeleteUser(name);
    } else {
      if (sub == "add" && args.role != "admin" && args.role != "user") {
        return Fail(args, cloister::InvalidArgument("user add needs --role admin or --role user"),
                    "cloister user add NAME --role admin|user");
      }
      auto hash = ReadNewPasswordHash();
      if (!hash.ok()) return Fail(args, hash.status());
      done = sub == "add" ? a.AddUser(name, args.role, *hash).status() : a.SetPassword(name, *hash);
    }
    if (!done.ok()) return Fail(args, done);
    AuditCli(args, "user_" + sub, name, sub == "add" ? std::vector<std::pair<std::string, std::string>>{{"role", args.role}}
                                                      : std::vector<std::pair<std::string, std::string>>{});
    std::cerr << (sub == "add" ? "added user " : sub == "del" ? "removed user " : "new password for ")
              << name << "\n";
    return kExitOk;
  }
  return Fail(args, cloister::InvalidArgument("unknown or incomplete user command"),
              "cloister user add NAME --role admin|user | del NAME | passwd NAME | list");
}

int RunApiKey(const Args& args) {
  const auto& p = args.positional;
  std::string sub = p.empty() ? "" : p[0];
  auto accounts = app::Accounts::Open(args.config);
  if (!accounts.ok()) return Fail(args, accounts.status());
  app::Accounts& a = **accounts;
  if (sub == "create" && p.size() == 2) {
    auto key = web::MakeApiKey();
    if (!key.ok()) return Fail(args, key.status());
    auto info = a.AddApiKey(p[1], key->hash, key->prefix);
    if (!info.ok()) return Fail(args, info.status());
    AuditCli(args, "apikey_create", p[1], {{"key_id", std::to_string(info->id)}, {"prefix", "ck_" + key->prefix}});
    if (args.json) {
      std::cout << web::ApiKeyJson(*info, key->key) << "\n";
    } else {
      std::cout << key->key << "\n";
      std::cerr << "API key " << info->id << " for " << info->user
                << ": shown this once, keep it now (only its hash is stored)\n";
    }
    return kExitOk;
  }
  if (sub == "revoke" && p.size() == 2) {
    long id = 0;
    if (!ParseNumber(p[1], 1, std::numeric_limits<long>::max(), &id)) {
      return Fail(args, cloister::InvalidArgument("KEY_ID is the number `apikey list` shows, not '" + p[1] + "'"));
    }
    Status revoked = a.RevokeApiKey(id);
    if (!revoked.ok()) return Fail(args, revoked);
    AuditCli(args, "apikey_revoke", p[1]);
    std::cerr << "revoked API key " << id << "\n";
    return kExitOk;
  }
  if (sub == "list" && p.size() == 1) {
    auto keys = a.ListApiKeys();
    if (!keys.ok()) return Fail(args, keys.status());
    if (args.json) {
      std::cout << web::ApiKeysJson(*keys) << "\n";
      return kExitOk;
    }
    for (const auto& k : *keys) {
      std::cout << k.id << "  " << k.user << "  ck_" << k.prefix << "_…  created " << Iso(k.created_at)
                << (k.last_used_at ? "  last used " + Iso(*k.last_used_at) : "")
                << (k.revoked_at ? "  revoked " + Iso(*k.revoked_at) : "") << "\n";
    }
    return kExitOk;
  }
  return Fail(args, cloister::InvalidArgument("unknown or incomplete apikey command"),
              "cloister apikey create NAME | revoke KEY_ID | list");
}

int RunCollection(const Args& args) {
  const auto& p = args.positional;
  if (p.size() != 2 || p[0] != "add" || !args.folder) {
    return Fail(args, cloister::InvalidArgument("collection needs: add NAME --folder DIR"),
                "cloister collection add NAME --folder DIR");
  }
  auto accounts = app::Accounts::Open(args.config);
  if (!accounts.ok()) return Fail(args, accounts.status());
  std::error_code ec;
  std::filesystem::path folder = std::filesystem::absolute(*args.folder, ec);
  Status added = (*accounts)->AddCollection(p[1], folder.lexically_normal().string());
  if (!added.ok()) return Fail(args, added);
  AuditCli(args, "collection_add", p[1], {{"folder", folder.string()}});
  std::cerr << "collection " << p[1] << " takes its files from " << folder.string() << "\n";
  return kExitOk;
}

int RunGrant(const Args& args) {
  if (args.positional.size() != 2) {
    return NeedPositional(args, 2, "cloister " + args.command + " NAME COLLECTION");
  }
  auto accounts = app::Accounts::Open(args.config);
  if (!accounts.ok()) return Fail(args, accounts.status());
  const std::string &user = args.positional[0], &collection = args.positional[1];
  Status done = args.command == "grant" ? (*accounts)->Grant(user, collection)
                                        : (*accounts)->Revoke(user, collection);
  if (!done.ok()) return Fail(args, done);
  AuditCli(args, args.command, user, {{"collection", collection}});
  std::cerr << (args.command == "grant" ? "granted " : "revoked ") << collection
            << (args.command == "grant" ? " to " : " from ") << user << "\n";
  return kExitOk;
}

int RunConfig(const Args& args) {
  const auto& p = args.positional;
  std::string sub = p.empty() ? "" : p[0];
  if (sub == "check" && p.size() <= 2) {
    std::filesystem::path file = p.size() == 2 ? std::filesystem::path(p[1]) : args.config_file;
    if (file.empty()) {
      return Fail(args, cloister::NotFound("no configuration file: none was named, and neither ./cloister.conf "
                                           "nor /etc/cloister/cloister.conf exists"),
                  "cloister config check FILE");
    }
    app::Config scratch;
    auto problems = app::ReadConfigFile(scratch, file);
    if (args.json) {
      std::cout << web::ConfigCheckJson(file.string(), problems) << "\n";
    } else if (problems.empty()) {
      std::cout << file.string() << ": valid\n";
    } else {
      for (const auto& pr : problems) {
        std::cout << file.string() << (pr.line > 0 ? ":" + std::to_string(pr.line) : "") << ": " << pr.message << "\n";
      }
    }
    return problems.empty() ? kExitOk : kExitUser;
  }
  if (sub == "show" && p.size() == 1) {
    auto settings = app::DescribeSettings(args.config);
    if (args.json) {
      std::cout << web::SettingsJson(args.config_file.string(), settings) << "\n";
      return kExitOk;
    }
    std::cout << "; from " << (args.config_file.empty() ? std::string("built-in defaults") : args.config_file.string())
              << ", CLOISTER_* variables and flags\n";
    std::string section;
    for (const auto& s : settings) {
      std::string sec = s.name.substr(0, s.name.find('.'));
      if (sec != section) {
        std::cout << (section.empty() ? "" : "\n") << "[" << sec << "]\n";
        section = sec;
      }
      std::cout << s.name.substr(s.name.find('.') + 1) << " = " << s.value << "    ; " << s.help << "\n";
    }
    return kExitOk;
  }
  return Fail(args, cloister::InvalidArgument("unknown or incomplete config command"),
              "cloister config check [FILE] | config show");
}

int RunDoctor(const Args& args) {
  auto checks = app::RunDoctor(args.config, args.config_file);
  bool ok = std::none_of(checks.begin(), checks.end(), [](const app::DoctorCheck& c) { return c.state == "fail"; });
  if (args.json) {
    std::cout << web::DoctorJson(checks) << "\n";
  } else {
    for (const auto& c : checks) {
      std::printf("%-4s  %-15s %s\n", c.state.c_str(), c.name.c_str(), c.detail.c_str());
    }
    std::printf("%s\n", ok ? "ready" : "NOT READY: fix what failed above");
  }
  return ok ? kExitOk : kExitUser;
}

}  // namespace

int main(int argc, char** argv) {
  // The sandboxed extraction worker (ingest/sandbox.h): not a user command.
  if (argc == 2 && std::string(argv[1]) == "__extract") return cloister::ingest::RunExtractWorker();
  // Layers (docs/configuration.md): defaults < the file < CLOISTER_* variables < flags. The
  // flags are read twice: first for --config, --json and the command, then over the rest.
  Args probe;
  Status parsed = Parse(argc, argv, &probe);
  if (!parsed.ok()) return Fail(probe, parsed, "run 'cloister --help'");
  Args args;
  args.config_file = probe.config_file.empty() ? app::DefaultConfigFile() : probe.config_file;
  bool checking = probe.command == "config" && !probe.positional.empty() && probe.positional[0] == "check";
  if (!args.config_file.empty() && !checking && !probe.help && !probe.version) {
    Status read = app::ApplyConfigFile(args.config, args.config_file);
    if (!read.ok()) return Fail(probe, read, "cloister config check " + args.config_file.string());
  }
  Status environment = app::ApplyEnvironment(args.config, environ);
  if (!environment.ok()) return Fail(probe, environment);
  parsed = Parse(argc, argv, &args);
  if (!parsed.ok()) return Fail(args, parsed, "run 'cloister --help'");
  if (const char* key = std::getenv("CLOISTER_CHAT_API_KEY")) args.config.answer.remote_api_key = key;
  if (args.version) {
    if (args.json) {
      std::cout << "{\"version\":\"" << cloister::Version() << "\"}\n";
    } else {
      std::cout << "cloister " << cloister::Version() << "\n";
    }
    return kExitOk;
  }
  if (args.help || args.command.empty() || args.command == "help") {
    std::cout << kUsage;
    return args.help || args.command == "help" ? kExitOk : kExitUser;
  }
  static const std::map<std::string, int (*)(const Args&)> kCommands = {
      {"status", RunStatus}, {"models", RunModels},      {"serve", RunServe},
      {"ingest", RunIngest}, {"search", RunSearch}, {"ask", RunAsk},
      {"reembed", RunReembed}, {"backup", RunBackup}, {"restore", RunRestore},
      {"user", RunUser}, {"apikey", RunApiKey}, {"collection", RunCollection},
      {"grant", RunGrant}, {"revoke", RunGrant}, {"config", RunConfig}, {"doctor", RunDoctor}};
  auto it = kCommands.find(args.command);
  if (it == kCommands.end()) {
    return Fail(args, cloister::InvalidArgument("unknown command '" + args.command + "'"),
                "run 'cloister --help'");
  }
  return it->second(args);
}
