// A strict reader of Prometheus's text exposition format (0.0.4), for tests of GET /metrics:
// every line is a HELP, a TYPE or a sample; samples belong to a family declared before them;
// histogram buckets are cumulative and end with +Inf equal to _count.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace cloister::web::exposition {

struct Exposition {
  std::map<std::string, std::string> types;             // family -> counter, gauge, histogram
  std::map<std::string, double> samples;                 // "name{labels}" -> value
  std::vector<std::string> problems;                     // empty: well formed

  double Value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
};

inline Exposition ParseExposition(const std::string& text) {
  Exposition e;
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? ([-+]?([0-9.eE+-]+|Inf|NaN)))");
  std::istringstream lines(text);
  int number = 0;
  std::map<std::string, double> last_bucket;  // series without le -> last cumulative count
  for (std::string line; std::getline(lines, line);) {
    ++number;
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) continue;
    if (std::regex_match(line, m, kType)) {
      if (e.types.count(m[1])) e.problems.push_back("line " + std::to_string(number) + ": TYPE twice for " + m[1].str());
      e.types[m[1]] = m[2];
      continue;
    }
    if (!std::regex_match(line, m, kSample)) {
      e.problems.push_back("line " + std::to_string(number) + " is not HELP, TYPE or a sample: " + line);
      continue;
    }
    std::string name = m[1];
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s = suffix;
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
          e.types.count(name.substr(0, name.size() - s.size())) &&
          e.types[name.substr(0, name.size() - s.size())] == "histogram") {
        family = name.substr(0, name.size() - s.size());
      }
    }
    if (!e.types.count(family)) e.problems.push_back("line " + std::to_string(number) + ": no TYPE before " + name);
    double value = std::stod(m[8].str() == "+Inf" ? "inf" : m[8].str());
    std::string series = name + (m[2].matched ? m[2].str() : "");
    if (e.samples.count(series)) e.problems.push_back("line " + std::to_string(number) + ": series twice: " + series);
    e.samples[series] = value;
    if (name.size() > 7 && name.compare(name.size() - 7, 7, "_bucket") == 0) {
      std::string labels = m[3].str();
      std::string without_le = std::regex_replace(labels, std::regex(R"(,?le="[^"]*")"), "");
      std::string key = name + "{" + without_le + "}";
      if (last_bucket.count(key) && value < last_bucket[key]) {
        e.problems.push_back("line " + std::to_string(number) + ": buckets not cumulative: " + series);
      }
      last_bucket[key] = value;
    }
  }
  return e;
}

}  // namespace cloister::web::exposition
