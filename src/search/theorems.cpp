#include "search/theorems.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace wick::search {
namespace {

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool ends_with_by(const std::string& s) {
  const std::string t = rtrim(s);
  return t.size() >= 5 && t.compare(t.size() - 2, 2, "by") == 0 && t.find(":=") != std::string::npos;
}

std::vector<Theorem> load_lean(const std::string& path, const std::string& text) {
  // Declarations start at a line beginning with `theorem` or `lemma` and end at `:= by sorry`.
  std::vector<Theorem> out;
  std::string header;
  size_t pos = 0;
  bool seen = false;
  while (pos < text.size()) {
    size_t start = std::string::npos;
    for (size_t p = pos; p < text.size();) {
      const bool line_start = p == 0 || text[p - 1] == '\n';
      if (line_start && (text.compare(p, 8, "theorem ") == 0 || text.compare(p, 6, "lemma ") == 0)) {
        start = p;
        break;
      }
      const size_t nl = text.find('\n', p);
      if (nl == std::string::npos) break;
      p = nl + 1;
    }
    if (start == std::string::npos) break;
    if (!seen) header = rtrim(text.substr(0, start));
    seen = true;
    const size_t by = text.find(":= by", start);
    if (by == std::string::npos) throw std::runtime_error(path + ": a declaration without `:= by`");
    size_t end = by + 5;
    // Skip the `sorry` placeholder after `by`.
    size_t after = text.find_first_not_of(" \t\r\n", end);
    if (after != std::string::npos && text.compare(after, 5, "sorry") == 0) end = after + 5;
    Theorem t;
    t.statement = text.substr(start, by + 5 - start);
    const size_t name_start = t.statement.find(' ') + 1;
    const size_t name_end = t.statement.find_first_of(" \n\t(:{[", name_start);
    t.name = t.statement.substr(name_start, name_end - name_start);
    t.header = header;
    out.push_back(std::move(t));
    pos = end;
  }
  if (out.empty()) throw std::runtime_error(path + ": no `theorem ... := by sorry` declarations");
  return out;
}

}  // namespace

std::vector<Theorem> load_theorems(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  if (path.size() > 5 && path.substr(path.size() - 5) == ".lean") return load_lean(path, text);
  std::vector<Theorem> out;
  int lineno = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (rtrim(line).empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    const std::string where = path + ":" + std::to_string(lineno);
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error(where + ": not a JSON object");
    auto str = [&](const char* k, bool required) {
      auto it = j.find(k);
      if (it == j.end() || it->is_null()) {
        if (required) throw std::runtime_error(where + ": missing \"" + k + "\"");
        return std::string();
      }
      if (!it->is_string()) throw std::runtime_error(where + ": \"" + k + "\" is not a string");
      return it->get<std::string>();
    };
    Theorem t;
    t.name = str("name", true);
    t.split = str("split", false);
    t.header = str("header", false);
    t.informal_prefix = str("informal_prefix", false);
    t.statement = rtrim(str("formal_statement", true));
    t.goal = str("goal", false);
    if (t.statement.size() >= 5 && t.statement.substr(t.statement.size() - 5) == "sorry")
      t.statement = rtrim(t.statement.substr(0, t.statement.size() - 5));
    if (!ends_with_by(t.statement)) throw std::runtime_error(where + ": \"formal_statement\" must end with `:= by`");
    out.push_back(std::move(t));
  }
  if (out.empty()) throw std::runtime_error(path + ": no theorems");
  return out;
}

std::string header_extra(const Theorem& t, const std::string& pool_header) {
  std::string extra;
  const auto have = lines_of(pool_header);
  for (const std::string& line : lines_of(t.header)) {
    if (rtrim(line).empty()) continue;
    bool present = false;
    for (const auto& h : have) present = present || rtrim(h) == rtrim(line);
    if (present) continue;
    if (line.rfind("import ", 0) == 0)
      throw std::runtime_error("theorem " + t.name + " needs `" + rtrim(line) + "`, which the REPL header does not import");
    extra += line + "\n";
  }
  return extra;
}

std::string theorem_command(const Theorem& t, const std::string& extra) { return extra + t.statement + " sorry"; }

std::string proof_text(const Theorem& t, const std::string& extra, const std::vector<std::string>& tactics) {
  std::string out = extra + t.statement;
  for (const std::string& tac : tactics)
    for (const std::string& line : lines_of(tac)) out += "\n  " + line;
  return out;
}

}  // namespace wick::search
