// The policy of proof search: tactic candidates for proof states, and the embeddings the energy
// head reads. Local (a model on a Scheduler shared by every search thread, so candidates for
// different theorems decode in the same batches) or remote (a `wick serve` endpoint's
// /v1/candidates and /v1/embeddings).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "wick/chat_template.h"
#include "wick/embedder.h"
#include "wick/generate.h"
#include "wick/prompt_template.h"
#include "wick/scheduler.h"

namespace wick::search {

struct TacticCandidate {
  std::string tactic;  // the generated text, trimmed
  double logprob = 0;  // total log-prob of its tokens
  int tokens = 0;
};

struct PolicySettings {
  PromptTemplate prompt;    // the proof state -> the model's prompt (stop strings included)
  SamplingParams sampling;  // seed set per call
  int max_tokens = 128;     // per tactic
  // With a chat template (local policy only): the templated state is the user message of a
  // one-turn conversation rendered with it (generation prompt on, no special tokens added).
  std::shared_ptr<const ChatTemplate> chat;
  nlohmann::ordered_json chat_vars;  // bos_token, eos_token, extra template variables
};

class Policy {
 public:
  virtual ~Policy() = default;
  // For each state, up to n distinct candidates sorted by log-prob, best first (one batched
  // call; state i samples with seeds[i]). A state whose prompt does not fit gets none.
  virtual std::vector<std::vector<TacticCandidate>> candidates(const std::vector<std::string>& states, int n,
                                                               const std::vector<uint64_t>& seeds) = 0;
  // Pooled final-norm embeddings of the texts.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, Pooling pooling) = 0;
};

std::unique_ptr<Policy> make_local_policy(Scheduler& scheduler, PolicySettings settings);
// url: http://HOST:PORT of a `wick serve`; template_name / template_string: how the server
// wraps the state (its /v1/candidates fields).
std::unique_ptr<Policy> make_remote_policy(const std::string& url, const std::string& api_key, const std::string& model,
                                           PolicySettings settings, const std::string& template_name, const std::string& template_string);

// A generated tactic as the REPL gets it: surrounding whitespace trimmed.
std::string clean_tactic(const std::string& text);

}  // namespace wick::search
