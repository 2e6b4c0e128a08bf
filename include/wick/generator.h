// The policy API: generation, N ranked candidates for one prompt, and teacher-forced scoring,
// all on one batched Engine (block KV cache, continuous batching).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "wick/engine.h"
#include "wick/generate.h"

namespace wick {

struct CandidatesResult {
  std::vector<int> prompt_tokens;
  // Distinct texts (a duplicate keeps its most likely sample), sorted by total log-prob,
  // best first (ties: lower sequence index first). Their prompt_tokens are left empty; `index`
  // says which sequence (seed sequence_seed(seed, index)) produced each.
  std::vector<GenerateResult> candidates;
  std::vector<int> indices;
  int requested = 0;
  int duplicates_removed = 0;
  int generated_tokens = 0;  // over all n sequences, duplicates included
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

struct ScoreResult {
  std::vector<int> prompt_tokens;
  std::vector<int> tokens;      // the continuation's tokens
  std::vector<float> logprobs;  // log p(tokens[i] | prompt, tokens[..i])
  double logprob = 0;           // their sum
  bool greedy = false;          // every token was the model's most likely one
};

// Candidates from n sampled choices (choice i sampled with sequence_seed(seed, i)): duplicates
// by text removed (the most likely kept), sorted by total log-prob, best first (ties: lower
// index first). Fills out.candidates, indices, duplicates_removed and generated_tokens.
void rank_candidates(std::vector<GenerateResult> choices, CandidatesResult& out);

// How score() tokenizes: the continuation is what encode(prompt + continuation) has past its
// longest common prefix with encode(prompt) (a token straddling the boundary counts as the
// continuation's). Returns {prompt tokens, continuation tokens}.
Result<std::pair<std::vector<int>, std::vector<int>>> split_for_scoring(const Tokenizer& tokenizer, const std::string& prompt,
                                                                        const std::string& continuation, bool add_special_tokens);

class Generator {
 public:
  static Result<std::unique_ptr<Generator>> create(std::shared_ptr<const Model> model, const EngineOptions& opts = {});
  ~Generator();

  Result<GenerateResult> generate(const std::string& prompt, const GenerateParams& params);
  Result<GenerateResult> generate_from_tokens(const std::vector<int>& prompt_tokens, const GenerateParams& params);

  // Independent prompts decoded together; result i is what generate(prompts[i]) gives with seed
  // sequence_seed(params.sampling.seed, i). on_text is not called.
  Result<std::vector<GenerateResult>> generate_batch(const std::vector<std::string>& prompts, const GenerateParams& params);

  // n samples of one prompt: the prompt is prefilled once and its KV blocks are shared by the n
  // sequences, which decode as one batch with their own seeds; finished ones leave the batch.
  // 1 <= n <= max_candidates(). on_text is not called.
  Result<CandidatesResult> generate_candidates(const std::string& prompt, int n, const GenerateParams& params);
  Result<CandidatesResult> generate_candidates_from_tokens(const std::vector<int>& prompt_tokens, int n, const GenerateParams& params);

  // Teacher-forced log-prob of `continuation` after `prompt`, tokenized as the model reads the
  // whole text: the continuation's tokens are those of encode(prompt + continuation) past its
  // longest common prefix with encode(prompt) (so a token straddling the boundary is scored as
  // part of the continuation); prompt_tokens in the result is that prefix.
  Result<ScoreResult> score(const std::string& prompt, const std::string& continuation, bool add_special_tokens = true);
  Result<ScoreResult> score_tokens(const std::vector<int>& prompt_tokens, const std::vector<int>& continuation);

  int max_candidates() const;
  Engine& engine();
  const Model& model() const;

 private:
  explicit Generator(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

}  // namespace wick
