// Best-first proof search over Lean proof states.
//
// Open states wait in a priority queue scored by
//     alpha * (logprob / llm_temperature) + beta * (-energy / ebm_temperature)
// where logprob is the cumulative log-prob of the tactics from the root (optionally per token)
// and energy the energy head's value of the state (lower = more provable). States with the same
// goals are one node (the search is a DAG). Each expansion takes the batch_expansion_size best
// states, asks the policy for num_candidates tactics each in one batched call, drops tactics
// that cheat (sorry, admit, native_decide), applies the rest through the REPL pool in parallel,
// and scores the new states in batches of batch_encode_size; every new state first gets the
// cheap probe tactics. A proof is reported only after the whole proof, re-checked as one
// command, compiles without errors or sorry.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "search/policy.h"
#include "search/repl_pool.h"
#include "search/theorems.h"
#include "wick/energy_head.h"

namespace wick::search {

struct SearchConfig {
  int max_nodes = 256;
  int max_depth = 32;
  int num_candidates = 8;
  double alpha = 1.0;
  double beta = 0.0;
  double llm_temperature = 1.0;
  double ebm_temperature = 1.0;
  double timeout_per_theorem = 600;  // seconds
  int batch_expansion_size = 1;
  int batch_encode_size = 32;
  bool harvest_siblings = false;
  bool length_normalize = false;  // logprob per tactic token instead of the sum
  std::vector<std::string> probe_tactics = {"simp",        "ring",  "omega",    "norm_num", "decide",        "trivial",
                                            "rfl",         "tauto", "linarith", "push_neg", "contradiction", "exfalso",
                                            "constructor", "left",  "right",    "ext",      "simp_all"};
};

// Tactics the search never sends: they close goals without proving them.
bool banned_tactic(const std::string& tactic);

struct SearchResult {
  std::string name;
  bool proved = false;
  std::vector<std::string> tactics;  // the proof, in order
  std::string proof;                 // the text that was re-checked
  std::string error;                 // why the search could not run (a statement that does not compile, ...)
  std::string stopped_by;            // "proved", "nodes", "time", "exhausted", "error"
  int nodes = 0;                     // states found
  int expanded = 0;                  // states the policy was asked about
  int depth = 0;                     // of the proof, or the deepest state reached
  int tactics_tried = 0;
  double wall_seconds = 0, policy_seconds = 0, repl_seconds = 0, energy_seconds = 0;
  nlohmann::json to_json() const;
};

class ProofSearch {
 public:
  // head may be null (beta must then be 0). The references outlive the search.
  ProofSearch(Policy& policy, ReplPool& pool, const EnergyHead* head, SearchConfig config, std::string pool_header);
  // trajectory (optional): one object per visited state (see trajectory_record in the .cpp).
  SearchResult prove(const Theorem& theorem, uint64_t seed, std::vector<nlohmann::json>* trajectory = nullptr);

 private:
  Policy& policy_;
  ReplPool& pool_;
  const EnergyHead* head_;
  SearchConfig cfg_;
  std::string pool_header_;
};

}  // namespace wick::search
