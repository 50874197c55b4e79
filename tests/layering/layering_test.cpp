// DESIGN.md's module rules, checked over the source tree.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "built_graph.h"

namespace {

namespace fs = std::filesystem;
using Graph = std::map<std::string, std::set<std::string>>;

const fs::path kRoot = CLOISTER_SOURCE_DIR;

// DESIGN.md: leaves depend only on core (llm is the private llama.cpp helper that embed and
// generate share, itself a leaf of core); app on the leaves; web on app and core.
const Graph kDesign = {
    {"core", {}},
    {"llm", {"core"}},
    {"storage", {"core"}},
    {"ingest", {"core"}},
    {"embed", {"core", "llm"}},
    {"index", {"core"}},
    {"generate", {"core", "llm"}},
    {"app", {"core", "storage", "ingest", "embed", "index", "generate", "llm"}},
    {"web", {"core", "app"}},
};

// Third-party header prefixes and the only modules whose src/ (and tests/<module>/) may use them.
const std::vector<std::pair<std::string, std::set<std::string>>> kThirdParty = {
    {"sqlite3.h", {"storage"}},
    {"faiss/", {"index"}},
    {"Poco/", {"web"}},
    {"llama.h", {"llm", "embed", "generate"}},
    {"llama-cpp.h", {"llm", "embed", "generate"}},
    {"ggml", {"llm", "embed", "generate"}},
    {"gguf.h", {"llm", "embed", "generate"}},
    {"poppler/", {"ingest"}},
    {"tesseract/", {"ingest"}},
    {"leptonica/", {"ingest"}},
    {"gmime/", {"ingest"}},
    {"sodium.h", {"web"}},
    {"sodium/", {"web"}},
    {"libxml/", {"ingest"}},
    {"archive.h", {"ingest"}},
    {"unicode/", {"ingest", "storage"}},
};

// Tests that drive the whole binary may use what the binary is built from.
const std::map<std::string, std::set<std::string>> kTestExtras = {{"cli", {"web"}}};

Graph BuiltGraph() {
  Graph g;
  std::stringstream in(CLOISTER_BUILT_GRAPH);
  std::string entry;
  while (std::getline(in, entry, '|')) {
    auto colon = entry.find(':');
    std::set<std::string> deps;
    std::stringstream d(entry.substr(colon + 1));
    for (std::string dep; std::getline(d, dep, ',');) deps.insert(dep);
    g[entry.substr(0, colon)] = deps;
  }
  return g;
}

std::vector<std::string> Includes(const fs::path& file) {
  static const std::regex include(R"(^\s*#\s*include\s*[<"]([^">]+)[">])");
  std::vector<std::string> out;
  std::ifstream in(file);
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, m, include)) out.push_back(m[1]);
  }
  return out;
}

bool IsSource(const fs::path& p) {
  auto e = p.extension();
  return e == ".h" || e == ".cpp" || e == ".cc" || e == ".in";
}

std::vector<fs::path> SourcesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && IsSource(e.path())) files.push_back(e.path());
  }
  return files;
}

TEST(LayeringTest, BuiltModuleGraphIsTheDesignGraph) {
  EXPECT_EQ(BuiltGraph(), kDesign);
}

TEST(LayeringTest, ModulesIncludeOnlyTheirOwnAndTheirDependenciesHeaders) {
  static const std::regex module_header(R"(^cloister/([a-z_]+)/)");
  int checked = 0;
  for (const auto& [module, deps] : kDesign) {
    for (const auto& file : SourcesUnder(kRoot / module)) {
      std::set<std::string> allowed = deps;
      allowed.insert(module);
      if (file.filename() == "main.cpp" && module == "app") allowed.insert("web");  // the binary
      for (const auto& inc : Includes(file)) {
        std::smatch m;
        if (!std::regex_search(inc, m, module_header)) continue;
        ++checked;
        EXPECT_TRUE(allowed.count(m[1])) << file << " includes " << inc;
      }
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(LayeringTest, ThirdPartyHeadersAppearOnlyInTheirLeafsSrc) {
  int seen = 0;
  std::vector<std::pair<fs::path, std::string>> roots;  // (folder, owner module or test folder)
  for (const auto& [module, deps] : kDesign) {
    roots.emplace_back(kRoot / module, module);
    roots.emplace_back(kRoot / "tests" / module, "tests/" + module);
  }
  roots.emplace_back(kRoot / "tests" / "cli", "tests/cli");
  for (const auto& [dir, owner] : roots) {
    for (const auto& file : SourcesUnder(dir)) {
      std::string rel = fs::relative(file, kRoot).string();
      bool in_src = rel.find("/src/") != std::string::npos;
      bool is_test = owner.rfind("tests/", 0) == 0;
      std::string module = is_test ? owner.substr(6) : owner;
      for (const auto& inc : Includes(file)) {
        for (const auto& [prefix, owners] : kThirdParty) {
          if (inc.rfind(prefix, 0) != 0) continue;
          ++seen;
          bool allowed_module = owners.count(module) > 0;
          if (is_test && kTestExtras.count(module)) {
            for (const auto& extra : kTestExtras.at(module)) allowed_module |= owners.count(extra) > 0;
          }
          EXPECT_TRUE(allowed_module && (in_src || is_test))
              << rel << " includes third-party " << inc;
        }
      }
    }
  }
  EXPECT_GT(seen, 10);
}

TEST(LayeringTest, PublicHeadersLiveUnderTheirModuleNamespaceFolder) {
  for (const auto& [module, deps] : kDesign) {
    for (const auto& file : SourcesUnder(kRoot / module / "include")) {
      std::string rel = fs::relative(file, kRoot / module / "include").string();
      EXPECT_EQ(rel.rfind("cloister/" + module + "/", 0), 0u) << file;
    }
  }
}

}  // namespace
