#include "cloister/app/settings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>

namespace cloister::app {
namespace {

namespace fs = std::filesystem;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parsers: each returns "" when the text is accepted (and stores it), else what is accepted.
using Setter = std::function<std::string(Config&, std::string_view)>;
using Getter = std::function<std::string(const Config&)>;

std::string FormatDouble(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

struct Setting {
  const char* name;
  const char* help;
  Setter set;
  Getter get;
};

// An integer from `low` to `high`, stored by `store`.
template <typename Store>
Setter IntegerSetter(int64_t low, int64_t high, Store store) {
  return [=](Config& c, std::string_view text) -> std::string {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < low || n > high) {
      return "a whole number from " + std::to_string(low) + " to " + std::to_string(high);
    }
    store(c, n);
    return "";
  };
}

template <typename Store>
Setter DoubleSetter(double low, double high, Store store) {
  return [=](Config& c, std::string_view text) -> std::string {
    std::string s(text);
    char* end = nullptr;
    double x = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(x) || x < low || x > high) {
      return "a number from " + FormatDouble(low) + " to " + FormatDouble(high);
    }
    store(c, x);
    return "";
  };
}

template <typename Store>
Setter BoolSetter(Store store) {
  return [=](Config& c, std::string_view text) -> std::string {
    std::string v = Lower(text);
    if (v == "true" || v == "yes" || v == "on" || v == "1") {
      store(c, true);
    } else if (v == "false" || v == "no" || v == "off" || v == "0") {
      store(c, false);
    } else {
      return "true or false (also yes/no, on/off, 1/0)";
    }
    return "";
  };
}

template <typename Store>
Setter TextSetter(Store store, bool may_be_empty = true) {
  return [=](Config& c, std::string_view text) -> std::string {
    if (!may_be_empty && text.empty()) return "a value (it may not be empty)";
    store(c, std::string(text));
    return "";
  };
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

const std::vector<Setting>& Table() {
  static const std::vector<Setting> table = {
      {"paths.data_dir", "SQLite catalog, vector index, originals and uploads",
       TextSetter([](Config& c, std::string v) { c.data_dir = v; }, false),
       [](const Config& c) { return c.data_dir.string(); }},
      {"paths.models_dir", "*.gguf files, each classified as embedding or chat model",
       TextSetter([](Config& c, std::string v) { c.models_dir = v; }, false),
       [](const Config& c) { return c.models_dir.string(); }},
      {"paths.inbox_dir", "watched folder: files put here are ingested",
       TextSetter([](Config& c, std::string v) { c.inbox_dir = v; }, false),
       [](const Config& c) { return c.inbox_dir.string(); }},

      {"server.bind", "listen address; anything but loopback needs auth = true",
       TextSetter([](Config& c, std::string v) { c.bind = v; }, false),
       [](const Config& c) { return c.bind; }},
      {"server.port", "listen port, 0 to 65535 (0: any free port)",
       IntegerSetter(0, 65535, [](Config& c, int64_t n) { c.port = static_cast<uint16_t>(n); }),
       [](const Config& c) { return std::to_string(c.port); }},
      {"server.http_threads", "request worker threads, 1 to 1024",
       IntegerSetter(1, 1024, [](Config& c, int64_t n) { c.http_threads = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.http_threads); }},
      {"server.auth", "every API call needs a user (API key or session): true or false",
       BoolSetter([](Config& c, bool b) { c.auth = b; }),
       [](const Config& c) { return std::string(c.auth ? "true" : "false"); }},
      {"server.insecure_no_auth", "allow a non-loopback bind without auth (tests, closed networks)",
       BoolSetter([](Config& c, bool b) { c.insecure_no_auth = b; }),
       [](const Config& c) { return std::string(c.insecure_no_auth ? "true" : "false"); }},
      {"server.session_idle_seconds", "a login session unused this long ends, 60 to 604800 s",
       IntegerSetter(60, 604800, [](Config& c, int64_t n) { c.session_idle_seconds = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.session_idle_seconds); }},
      {"server.shutdown_grace", "on SIGTERM, answers in progress get this long, 0 to 86400 s",
       IntegerSetter(0, 86400, [](Config& c, int64_t n) { c.shutdown_grace_seconds = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.shutdown_grace_seconds); }},
      {"server.max_upload_bytes", "largest uploaded file, bytes (larger: 413)",
       IntegerSetter(1, int64_t{1} << 40, [](Config& c, int64_t n) { c.max_upload_bytes = static_cast<uint64_t>(n); }),
       [](const Config& c) { return std::to_string(c.max_upload_bytes); }},
      {"server.audit_rotate_bytes", "the audit log (data_dir/audit/audit.log) rotates past this size, bytes",
       IntegerSetter(4096, int64_t{1} << 40, [](Config& c, int64_t n) { c.audit_rotate_bytes = static_cast<uint64_t>(n); }),
       [](const Config& c) { return std::to_string(c.audit_rotate_bytes); }},
      {"server.audit_keep", "rotated audit log files kept, 1 to 1000",
       IntegerSetter(1, 1000, [](Config& c, int64_t n) { c.audit_keep = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.audit_keep); }},
      {"server.client_requests_per_second", "per client (a user, else an address): requests a second, 0 to 1e6 (0: no limit)",
       DoubleSetter(0, 1e6, [](Config& c, double x) { c.client_requests_per_second = x; }),
       [](const Config& c) { return FormatDouble(c.client_requests_per_second); }},
      {"server.client_burst", "per client: requests at once after a rest (the bucket's size), 1 to 1e6",
       DoubleSetter(1, 1e6, [](Config& c, double x) { c.client_burst = x; }),
       [](const Config& c) { return FormatDouble(c.client_burst); }},
      {"server.client_concurrent_answers", "per client: answers in progress at once, 0 to 1024 (0: no limit)",
       IntegerSetter(0, 1024, [](Config& c, int64_t n) { c.client_concurrent_answers = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.client_concurrent_answers); }},
      {"server.client_concurrent_requests", "per client: requests in progress at once, 0 to 65536 (0: no limit)",
       IntegerSetter(0, 65536, [](Config& c, int64_t n) { c.client_concurrent_requests = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.client_concurrent_requests); }},

      {"ingest.workers", "files extracted at once, 1 to 64",
       IntegerSetter(1, 64, [](Config& c, int64_t n) { c.ingest.workers = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.workers); }},
      {"ingest.timeout_seconds", "time limit per file in the extraction worker, 1 to 86400 s",
       IntegerSetter(1, 86400, [](Config& c, int64_t n) { c.ingest.timeout_seconds = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.timeout_seconds); }},
      {"ingest.memory_mb", "address-space limit of the extraction worker, 64 to 1048576 MiB",
       IntegerSetter(64, 1 << 20, [](Config& c, int64_t n) { c.ingest.memory_mb = static_cast<uint64_t>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.memory_mb); }},
      {"ingest.max_file_bytes", "larger files fail as \"too large\", bytes",
       IntegerSetter(1, int64_t{1} << 40, [](Config& c, int64_t n) { c.ingest.max_file_bytes = static_cast<uint64_t>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.max_file_bytes); }},
      {"ingest.max_pages", "PDF pages read per file, 1 to 1000000",
       IntegerSetter(1, 1'000'000, [](Config& c, int64_t n) { c.ingest.max_pages = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.max_pages); }},
      {"ingest.ocr", "OCR PDF pages without a text layer (tesseract): true or false",
       BoolSetter([](Config& c, bool b) { c.ingest.ocr = b; }),
       [](const Config& c) { return std::string(c.ingest.ocr ? "true" : "false"); }},
      {"ingest.ocr_languages", "tesseract languages, e.g. eng+deu",
       TextSetter([](Config& c, std::string v) { c.ingest.ocr_languages = v; }, false),
       [](const Config& c) { return c.ingest.ocr_languages; }},
      {"ingest.pdf_passwords", "passwords tried on encrypted PDFs, comma-separated",
       TextSetter([](Config& c, std::string v) {
         c.ingest.pdf_passwords.clear();
         size_t start = 0;
         while (start <= v.size()) {
           size_t comma = std::min(v.find(',', start), v.size());
           std::string one(Trim(std::string_view(v).substr(start, comma - start)));
           if (!one.empty()) c.ingest.pdf_passwords.push_back(one);
           start = comma + 1;
         }
       }),
       [](const Config& c) { return Joined(c.ingest.pdf_passwords); }},
      {"ingest.max_depth", "attachment and nested message depth, 0 to 64",
       IntegerSetter(0, 64, [](Config& c, int64_t n) { c.ingest.max_depth = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.max_depth); }},
      {"ingest.chunk_tokens", "chunk size, 32 to 8192 tokens",
       IntegerSetter(32, 8192, [](Config& c, int64_t n) { c.ingest.chunk_tokens = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.chunk_tokens); }},
      {"ingest.chunk_overlap", "share of a chunk repeated in the next, 0 to 0.5",
       DoubleSetter(0, 0.5, [](Config& c, double x) { c.ingest.chunk_overlap = x; }),
       [](const Config& c) { return FormatDouble(c.ingest.chunk_overlap); }},
      {"ingest.settle_ms", "the watcher ingests a file unchanged this long, 0 to 3600000 ms",
       IntegerSetter(0, 3'600'000, [](Config& c, int64_t n) { c.ingest.settle_ms = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.ingest.settle_ms); }},

      {"index.factory", "FAISS index_factory string; empty: chosen by collection size",
       TextSetter([](Config& c, std::string v) { c.index.factory = v; }),
       [](const Config& c) { return c.index.factory; }},
      {"index.exact_below", "automatic choice: exact search below this many vectors",
       IntegerSetter(0, int64_t{1} << 40, [](Config& c, int64_t n) { c.index.exact_below = n; }),
       [](const Config& c) { return std::to_string(c.index.exact_below); }},
      {"index.compact_ratio", "compact when removed vectors exceed this share of live ones, 0.01 to 10",
       DoubleSetter(0.01, 10, [](Config& c, double x) { c.index.compact_ratio = x; }),
       [](const Config& c) { return FormatDouble(c.index.compact_ratio); }},

      {"retrieval.rrf_k", "reciprocal rank fusion constant, 0 to 1000000 (higher: flatter)",
       DoubleSetter(0, 1e6, [](Config& c, double x) { c.retrieval.rrf_k = x; }),
       [](const Config& c) { return FormatDouble(c.retrieval.rrf_k); }},
      {"retrieval.vector_weight", "fusion weight of the vector ranking, 0 to 100",
       DoubleSetter(0, 100, [](Config& c, double x) { c.retrieval.vector_weight = x; }),
       [](const Config& c) { return FormatDouble(c.retrieval.vector_weight); }},
      {"retrieval.lexical_weight", "fusion weight of the BM25 ranking, 0 to 100",
       DoubleSetter(0, 100, [](Config& c, double x) { c.retrieval.lexical_weight = x; }),
       [](const Config& c) { return FormatDouble(c.retrieval.lexical_weight); }},
      {"retrieval.query_prefix", "text put before queries for the embedding model; empty: what its family expects",
       TextSetter([](Config& c, std::string v) {
         c.retrieval.query_prefix = v.empty() ? std::nullopt : std::optional<std::string>(v);
       }),
       [](const Config& c) { return c.retrieval.query_prefix.value_or(""); }},
      {"retrieval.document_prefix", "text put before passages for the embedding model; empty: what its family expects",
       TextSetter([](Config& c, std::string v) {
         c.retrieval.document_prefix = v.empty() ? std::nullopt : std::optional<std::string>(v);
       }),
       [](const Config& c) { return c.retrieval.document_prefix.value_or(""); }},

      {"answer.slots", "answers generated at once by the chat model, 1 to 64",
       IntegerSetter(1, 64, [](Config& c, int64_t n) { c.answer.slots = static_cast<uint32_t>(n); }),
       [](const Config& c) { return std::to_string(c.answer.slots); }},
      {"answer.queue", "answers waiting for a slot, 0 to 10000; past it requests get 503",
       IntegerSetter(0, 10000, [](Config& c, int64_t n) { c.answer.queue = static_cast<uint32_t>(n); }),
       [](const Config& c) { return std::to_string(c.answer.queue); }},
      {"answer.context_tokens", "tokens of context per answer, prompt and answer, 256 to 1048576",
       IntegerSetter(256, 1 << 20, [](Config& c, int64_t n) { c.answer.context_tokens = static_cast<uint32_t>(n); }),
       [](const Config& c) { return std::to_string(c.answer.context_tokens); }},
      {"answer.max_tokens", "answer length, 1 to 65536 tokens",
       IntegerSetter(1, 65536, [](Config& c, int64_t n) { c.answer.max_tokens = static_cast<uint32_t>(n); }),
       [](const Config& c) { return std::to_string(c.answer.max_tokens); }},
      {"answer.temperature", "sampling temperature, 0 to 2 (0: greedy, the most faithful)",
       DoubleSetter(0, 2, [](Config& c, double x) { c.answer.temperature = static_cast<float>(x); }),
       [](const Config& c) { return FormatDouble(c.answer.temperature); }},
      {"answer.min_evidence", "least share of the question's words the best passage must hold, 0 to 1",
       DoubleSetter(0, 1, [](Config& c, double x) { c.answer.min_evidence = x; }),
       [](const Config& c) { return FormatDouble(c.answer.min_evidence); }},
      {"answer.extractive_sentences", "sentences quoted when there is no chat model, 1 to 20",
       IntegerSetter(1, 20, [](Config& c, int64_t n) { c.answer.extractive_sentences = static_cast<int>(n); }),
       [](const Config& c) { return std::to_string(c.answer.extractive_sentences); }},
      {"answer.remote_url", "an OpenAI-compatible server on the intranet answers instead (http://host:port)",
       TextSetter([](Config& c, std::string v) { c.answer.remote_url = v; }),
       [](const Config& c) { return c.answer.remote_url; }},
      {"answer.remote_model", "the remote server's model; empty: the first it lists",
       TextSetter([](Config& c, std::string v) { c.answer.remote_model = v; }),
       [](const Config& c) { return c.answer.remote_model; }},
  };
  return table;
}

const Setting* Find(std::string_view name) {
  std::string key = Lower(name);
  for (const auto& s : Table()) {
    if (key == s.name) return &s;
  }
  return nullptr;
}

// Edit distance, for "did you mean".
size_t Distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string Unknown(std::string_view name) {
  std::string key = Lower(name);
  std::string message = "no setting is called '" + std::string(name) + "'";
  const Setting* best = nullptr;
  size_t best_distance = 4;
  for (const auto& s : Table()) {
    std::string_view full = s.name;
    std::string_view bare = full.substr(full.find('.') + 1);
    size_t d = std::min(Distance(key, full), Distance(key.substr(key.find('.') + 1), bare) + 1);
    if (d < best_distance) best = &s, best_distance = d;
  }
  if (best) message += "; did you mean '" + std::string(best->name) + "'?";
  return message;
}

}  // namespace

std::vector<SettingInfo> DescribeSettings(const Config& config) {
  std::vector<SettingInfo> out;
  for (const auto& s : Table()) out.push_back({s.name, s.get(config), s.help});
  return out;
}

Status ApplySetting(Config& config, std::string_view name, std::string_view value) {
  const Setting* s = Find(name);
  if (!s) return NotFound(Unknown(name));
  std::string wanted = s->set(config, Trim(value));
  if (!wanted.empty()) {
    return InvalidArgument(std::string(s->name) + " needs " + wanted + ", got '" + std::string(Trim(value)) + "'");
  }
  return Status::Ok();
}

std::vector<ConfigProblem> ReadConfigFile(Config& config, const fs::path& file) {
  std::ifstream in(file);
  if (!in) {
    std::error_code ec;
    return {{0, "", fs::exists(file, ec) ? "cannot read " + file.string() : file.string() + " does not exist"}};
  }
  std::vector<ConfigProblem> problems;
  std::string section;
  int number = 0;
  for (std::string raw; std::getline(in, raw);) {
    ++number;
    std::string_view line = Trim(raw);
    if (number == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line = Trim(line.substr(3));  // BOM
    if (line.empty() || line[0] == ';' || line[0] == '#') continue;
    if (line[0] == '[') {
      if (line.back() != ']') {
        problems.push_back({number, "", "a section line must end with ']': " + std::string(line)});
        continue;
      }
      section = Lower(Trim(line.substr(1, line.size() - 2)));
      bool known = std::any_of(Table().begin(), Table().end(), [&](const Setting& s) {
        return std::string_view(s.name).substr(0, std::string_view(s.name).find('.')) == section;
      });
      if (!known) problems.push_back({number, section, "no section is called [" + section + "]"});
      continue;
    }
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      problems.push_back({number, "", "expected 'key = value', '[section]' or a comment: " + std::string(line)});
      continue;
    }
    std::string key = Lower(Trim(line.substr(0, equals)));
    std::string name = section.empty() ? key : section + "." + key;
    if (section.empty()) {
      problems.push_back({number, key, "'" + key + "' is outside any [section]"});
      continue;
    }
    Status applied = ApplySetting(config, name, line.substr(equals + 1));
    if (!applied.ok()) problems.push_back({number, name, applied.message()});
  }
  return problems;
}

Status ApplyConfigFile(Config& config, const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return NotFound("the configuration file " + file.string() + " does not exist");
  auto problems = ReadConfigFile(config, file);
  if (problems.empty()) return Status::Ok();
  const auto& p = problems.front();
  std::string where = file.string() + (p.line > 0 ? ":" + std::to_string(p.line) : "");
  std::string more = problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) +
                                               " more; see `cloister config check`)" : "";
  return InvalidArgument(where + ": " + p.message + more);
}

Status ApplyEnvironment(Config& config, char** environment) {
  if (!environment) return Status::Ok();
  for (char** e = environment; *e; ++e) {
    std::string_view entry = *e;
    if (entry.rfind("CLOISTER_", 0) != 0) continue;
    size_t equals = entry.find('=');
    if (equals == std::string_view::npos) continue;
    std::string variable(entry.substr(0, equals));
    std::string rest = Lower(variable.substr(9));  // SECTION_KEY
    size_t underscore = rest.find('_');
    if (underscore == std::string::npos) continue;
    std::string name = rest.substr(0, underscore) + "." + rest.substr(underscore + 1);
    if (!Find(name)) continue;  // CLOISTER_LOG and the like are not settings
    Status applied = ApplySetting(config, name, entry.substr(equals + 1));
    if (!applied.ok()) return InvalidArgument("environment variable " + variable + ": " + applied.message());
  }
  return Status::Ok();
}

fs::path DefaultConfigFile() {
  std::error_code ec;
  if (fs::exists("cloister.conf", ec)) return "cloister.conf";
  if (fs::exists("/etc/cloister/cloister.conf", ec)) return "/etc/cloister/cloister.conf";
  return {};
}

}  // namespace cloister::app
