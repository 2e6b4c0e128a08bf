// wick prove: best-first Lean 4 proof search (policy model + energy head + REPL pool), and
// wick energy: the energy head's values for proof states.
#pragma once

#include "cli_common.h"
#include "search/best_first.h"

namespace wick::cli {

struct ProveCommand {
  std::string model, policy_url, policy_model, api_key, theorems, repl, repl_cwd, header, config_file, head_dir;
  std::string template_name = "deepseek-prover-v2", template_string, chat_template, shard, out, trajectories;
  int lean_workers = 2, jobs = 1, max_commands = 1000;
  double tactic_timeout = 60, repl_memory_mb = 0;
  uint64_t seed = 0;
  bool json = false;
  // Search and sampling settings: the TOML file's [search] table, then these flags over it.
  int max_nodes = 0, max_depth = 0, num_candidates = 0, batch_expansion_size = 0, batch_encode_size = 0, max_tokens = 0, top_k = 0;
  double alpha = 0, beta = 0, llm_temperature = 0, ebm_temperature = 0, timeout_per_theorem = 0, temperature = 0, top_p = 0;
  bool harvest_siblings = false, length_normalize = false;
  std::string probe_tactics;
  EngineFlags engine;
  CLI::App* app = nullptr;
  CLI::App* add(CLI::App& parent);
  int run() const;
};

struct EnergyCommand {
  std::string model, head_dir;
  std::vector<std::string> states;
  bool json = false;
  EngineFlags engine;
  CLI::App* add(CLI::App& parent);
  int run() const;
};

}  // namespace wick::cli
