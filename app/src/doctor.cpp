#include "cloister/app/doctor.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>

#include "cloister/app/accounts.h"
#include "cloister/app/knowledge_base.h"
#include "cloister/app/settings.h"
#include "cloister/core/version.h"
#include "cloister/storage/catalog.h"

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

std::string Size(uint64_t bytes) {
  char buf[32];
  double gib = static_cast<double>(bytes) / (1ull << 30);
  if (gib >= 1) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", gib);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / (1ull << 20));
  }
  return buf;
}

// The folder itself when it exists, else its nearest existing parent.
fs::path Existing(fs::path p) {
  std::error_code ec;
  p = fs::absolute(p, ec);
  while (!p.empty() && !fs::exists(p, ec) && p != p.parent_path()) p = p.parent_path();
  return p;
}

DoctorCheck ConfigCheck(const fs::path& file) {
  if (file.empty()) return {"config", "ok", "no configuration file: built-in defaults, CLOISTER_* variables and flags"};
  Config scratch;
  auto problems = ReadConfigFile(scratch, file);
  if (problems.empty()) return {"config", "ok", file.string() + " is valid"};
  std::string detail;
  for (const auto& p : problems) {
    detail += (detail.empty() ? "" : "; ") + file.string() + (p.line ? ":" + std::to_string(p.line) : "") + ": " + p.message;
  }
  return {"config", "fail", detail};
}

DoctorCheck FolderCheck(const std::string& name, const fs::path& folder, bool must_write) {
  std::error_code ec;
  if (!fs::exists(folder, ec)) {
    fs::path parent = Existing(folder);
    bool creatable = access(parent.c_str(), W_OK | X_OK) == 0;
    return {name, creatable ? "warn" : "fail",
            folder.string() + " does not exist" +
                (creatable ? "; serve creates it" : " and " + parent.string() + " is not writable: create it for the service's user")};
  }
  if (!fs::is_directory(folder, ec)) return {name, "fail", folder.string() + " is not a folder"};
  int mode = must_write ? (R_OK | W_OK | X_OK) : (R_OK | X_OK);
  if (access(folder.c_str(), mode) != 0) {
    return {name, "fail", folder.string() + (must_write ? " is not writable" : " is not readable") + " by this user (uid " +
                              std::to_string(getuid()) + ")"};
  }
  return {name, "ok", fs::absolute(folder, ec).string()};
}

DoctorCheck DiskCheck(const fs::path& data_dir) {
  fs::path where = Existing(data_dir);
  struct statvfs s{};
  if (statvfs(where.c_str(), &s) != 0) return {"disk space", "warn", "cannot read the free space of " + where.string()};
  uint64_t free = static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
  uint64_t total = static_cast<uint64_t>(s.f_blocks) * s.f_frsize;
  std::string detail = Size(free) + " free of " + Size(total) + " on " + where.string();
  if (free < (256ull << 20)) return {"disk space", "fail", detail + ": ingestion and the index need room; free some"};
  if (free < (2ull << 30) || (total > 0 && free * 20 < total)) {
    return {"disk space", "warn", detail + ": the catalog takes about 4 GB per million passages"};
  }
  return {"disk space", "ok", detail};
}

DoctorCheck ModelsCheck(const fs::path& models_dir) {
  std::error_code ec;
  if (!fs::is_directory(models_dir, ec)) {
    return {"models", "warn", models_dir.string() + " does not exist: lexical search and extractive answers only"};
  }
  auto models = ListModels(models_dir, /*try_load=*/true);
  if (models.empty()) {
    return {"models", "warn", "no *.gguf in " + models_dir.string() +
                                  ": lexical search and extractive answers only (docs/air-gapped.md lists models)"};
  }
  std::string found, failed;
  bool embedding = false, chat = false;
  for (const auto& m : models) {
    if (!m.error.empty() || (m.loads.has_value() && !*m.loads)) {
      failed += (failed.empty() ? "" : "; ") + m.path.filename().string() + ": " + m.error;
      continue;
    }
    embedding |= m.kind == "embedding";
    chat |= m.kind == "chat";
    found += (found.empty() ? "" : ", ") + m.kind + " " + m.path.filename().string() +
             (m.quantization.empty() ? "" : " (" + m.quantization + ")");
  }
  if (!failed.empty()) return {"models", "fail", "cannot load " + failed};
  std::string missing = !embedding ? "; no embedding model: search is lexical"
                        : !chat    ? "; no chat model: answers are extractive"
                                   : "";
  return {"models", missing.empty() ? "ok" : "warn", "load: " + found + missing};
}

DoctorCheck ClockCheck() {
  // The build's date is a floor no correct clock is below.
  std::tm built{};
  strptime(__DATE__, "%b %d %Y", &built);
  std::time_t floor = timegm(&built);
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  if (now + 86400 < floor) {
    return {"clock", "fail", std::string("the clock says ") + text + ", before this build (" + __DATE__ +
                                 "): sessions, API key dates and the audit log would be wrong; set the time (NTP on the intranet)"};
  }
  return {"clock", "ok", text};
}

DoctorCheck ExposureCheck(const Config& config) {
  bool loopback = config.bind == "127.0.0.1" || config.bind == "::1" || config.bind == "localhost";
  if (!loopback && !config.auth) {
    return {"authentication", config.insecure_no_auth ? "warn" : "fail",
            "bind " + config.bind + " without auth: " +
                (config.insecure_no_auth ? std::string("anyone who reaches it reads every document")
                                         : "serve refuses to start; set server.auth = true")};
  }
  if (!config.auth) return {"authentication", "ok", "off, listening on loopback only (" + config.bind + ")"};
  return {"authentication", "ok", "on"};
}

}  // namespace

std::vector<DoctorCheck> RunDoctor(const Config& config, const fs::path& config_file) {
  std::vector<DoctorCheck> checks;
  checks.push_back({"version", "ok", std::string(Version())});
  checks.push_back(ConfigCheck(config_file));
  checks.push_back(FolderCheck("data folder", config.data_dir, true));
  checks.push_back(DiskCheck(config.data_dir));
  checks.push_back(FolderCheck("inbox", config.inbox_dir, false));
  checks.push_back(ModelsCheck(config.models_dir));
  checks.push_back(ClockCheck());
  checks.push_back(ExposureCheck(config));

  std::error_code ec;
  if (!fs::exists(config.catalog_path(), ec)) {
    checks.push_back({"catalog", "warn", config.catalog_path().string() + " does not exist yet: serve or ingest creates it"});
    return checks;
  }
  Status sound = storage::Catalog::Check(config.catalog_path());
  if (!sound.ok()) {
    checks.push_back({"catalog", "fail", sound.message() + "; restore the last backup (docs/durability.md)"});
    return checks;
  }
  checks.push_back({"catalog", "ok", config.catalog_path().string() + " passes SQLite's integrity check"});

  auto kb = KnowledgeBase::Open(config);
  if (!kb.ok()) {
    checks.push_back({"index", "fail", "cannot open the knowledge base: " + kb.status().message()});
    return checks;
  }
  auto status = (*kb)->Status(Caller::Everything());
  if (!status.ok()) {
    checks.push_back({"index", "fail", status.status().message()});
    return checks;
  }
  const StatusReport& s = *status;
  if (s.reembedding) {
    checks.push_back({"index", "warn", "re-embedding for " + s.reembedding->to + ": " + std::to_string(s.reembedding->done) +
                                           " of " + std::to_string(s.reembedding->total) + " passages done (serve continues it)"});
  } else if (s.embeddings > 0 && s.index_size != s.embeddings) {
    checks.push_back({"index", "warn", "the " + s.index_kind + " index holds " + std::to_string(s.index_size) +
                                           " vectors, the catalog " + std::to_string(s.embeddings) +
                                           " embeddings: serve rebuilds the index from them at start, without re-embedding"});
  } else {
    checks.push_back({"index", "ok", s.index_kind + ", " + std::to_string(s.index_size) + " vectors for " +
                                         std::to_string(s.chunks) + " passages"});
  }
  int64_t failed = s.documents_by_status.count("failed") ? s.documents_by_status.at("failed") : 0;
  checks.push_back({"documents", failed > 0 ? "warn" : "ok",
                    std::to_string(s.documents) + " documents" +
                        (failed > 0 ? ", " + std::to_string(failed) + " failed (cloister status lists why)" : "")});
  if (config.auth) {
    auto accounts = Accounts::Open(config);
    auto users = accounts.ok() ? (*accounts)->ListUsers() : Result<std::vector<UserInfo>>(accounts.status());
    bool admin = users.ok() && std::any_of(users->begin(), users->end(), [](const UserInfo& u) { return u.role == "admin"; });
    if (!admin) {
      checks.push_back({"accounts", "warn", "authentication is on but no admin exists: cloister user add NAME --role admin"});
    } else {
      checks.push_back({"accounts", "ok", std::to_string(users->size()) + " users"});
    }
  }
  return checks;
}

}  // namespace cloister::app
