#include "search/search_config.h"

#include <set>
#include <stdexcept>
#include <toml++/toml.h>

namespace wick::search {
namespace {

[[noreturn]] void bad(const std::string& path, const std::string& what) { throw std::runtime_error(path + ": [search] " + what); }

}  // namespace

void load_search_toml(const std::string& path, SearchConfig& c, SamplingSettings& s) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(path + ": " + std::string(e.description()) + " (line " + std::to_string(e.source().begin.line) + ")");
  }
  for (auto&& [k, v] : root)
    if (k.str() != "search") throw std::runtime_error(path + ": unknown table or key '" + std::string(k.str()) + "' (only [search])");
  const toml::table* t = root["search"].as_table();
  if (!t) throw std::runtime_error(path + ": no [search] table");
  static const std::set<std::string> known = {"max_nodes",
                                              "max_depth",
                                              "num_candidates",
                                              "alpha",
                                              "beta",
                                              "llm_temperature",
                                              "ebm_temperature",
                                              "timeout_per_theorem",
                                              "batch_expansion_size",
                                              "batch_encode_size",
                                              "harvest_siblings",
                                              "probe_tactics",
                                              "length_normalize",
                                              "temperature",
                                              "top_p",
                                              "top_k",
                                              "max_tokens"};
  for (auto&& [k, v] : *t)
    if (!known.count(std::string(k.str()))) {
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      bad(path, "unknown key '" + std::string(k.str()) + "' (known: " + list + ")");
    }
  auto integer = [&](const char* k, int& out) {
    if (const auto* n = t->get(k)) {
      auto v = n->value<int64_t>();
      if (!v || !n->is_integer()) bad(path, std::string(k) + " must be an integer");
      out = static_cast<int>(*v);
    }
  };
  auto number = [&](const char* k, double& out) {
    if (const auto* n = t->get(k)) {
      auto v = n->value<double>();
      if (!v) bad(path, std::string(k) + " must be a number");
      out = *v;
    }
  };
  auto boolean = [&](const char* k, bool& out) {
    if (const auto* n = t->get(k)) {
      if (!n->is_boolean()) bad(path, std::string(k) + " must be true or false");
      out = *n->value<bool>();
    }
  };
  integer("max_nodes", c.max_nodes);
  integer("max_depth", c.max_depth);
  integer("num_candidates", c.num_candidates);
  number("alpha", c.alpha);
  number("beta", c.beta);
  number("llm_temperature", c.llm_temperature);
  number("ebm_temperature", c.ebm_temperature);
  number("timeout_per_theorem", c.timeout_per_theorem);
  integer("batch_expansion_size", c.batch_expansion_size);
  integer("batch_encode_size", c.batch_encode_size);
  boolean("harvest_siblings", c.harvest_siblings);
  boolean("length_normalize", c.length_normalize);
  if (const auto* n = t->get("probe_tactics")) {
    const toml::array* a = n->as_array();
    if (!a) bad(path, "probe_tactics must be a list of strings");
    c.probe_tactics.clear();
    for (auto&& e : *a) {
      if (!e.is_string()) bad(path, "probe_tactics must be a list of strings");
      c.probe_tactics.push_back(*e.value<std::string>());
    }
  }
  number("temperature", s.temperature);
  number("top_p", s.top_p);
  integer("top_k", s.top_k);
  integer("max_tokens", s.max_tokens);
}

void validate(const SearchConfig& c, const SamplingSettings& s) {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::runtime_error("search settings: " + what);
  };
  check(c.max_nodes >= 1, "max_nodes must be >= 1");
  check(c.max_depth >= 1, "max_depth must be >= 1");
  check(c.num_candidates >= 1 && c.num_candidates <= 256, "num_candidates must be in 1..256");
  check(c.llm_temperature > 0, "llm_temperature must be > 0");
  check(c.ebm_temperature > 0, "ebm_temperature must be > 0");
  check(c.timeout_per_theorem > 0, "timeout_per_theorem must be > 0");
  check(c.batch_expansion_size >= 1, "batch_expansion_size must be >= 1");
  check(c.batch_encode_size >= 1, "batch_encode_size must be >= 1");
  check(s.temperature >= 0, "temperature must be >= 0");
  check(s.top_p > 0 && s.top_p <= 1, "top_p must be in (0, 1]");
  check(s.top_k >= 0, "top_k must be >= 0");
  check(s.max_tokens >= 1, "max_tokens must be >= 1");
}

}  // namespace wick::search
