// The search settings file: a TOML [search] table with exactly the keys of SearchConfig
// (max_nodes, max_depth, num_candidates, alpha, beta, llm_temperature, ebm_temperature,
// timeout_per_theorem, batch_expansion_size, batch_encode_size, harvest_siblings, probe_tactics,
// length_normalize) and the sampling settings (temperature, top_p, top_k, max_tokens). An
// unknown key, a wrong type or an out-of-range value is an error naming it.
#pragma once

#include <string>

#include "search/best_first.h"

namespace wick::search {

struct SamplingSettings {
  double temperature = 1.0;
  double top_p = 0.95;
  int top_k = 0;
  int max_tokens = 128;  // per tactic
};

// Reads `path` over the given values (keys absent from the file keep them). Throws
// std::runtime_error.
void load_search_toml(const std::string& path, SearchConfig& search, SamplingSettings& sampling);
// Range checks of a resolved configuration (after the file and the flags).
void validate(const SearchConfig& search, const SamplingSettings& sampling);

}  // namespace wick::search
