// The sampler chain of one sequence (SamplingParams in wick/generate.h): penalties ->
// temperature -> top-k -> top-p -> min-p -> a draw from the sequence's own seeded
// std::mt19937_64 (whose output the C++ standard fixes, so a seed reproduces on every platform).
// All buffers are allocated at construction; sample() allocates nothing.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "wick/generate.h"

namespace wick {

// Throws kInvalidArgument for a negative/non-finite temperature, top_p outside (0, 1], top_k < 0,
// min_p outside [0, 1], repetition_penalty <= 0, or non-finite penalties.
void validate_sampling(const SamplingParams& p);

// log p(token) under softmax(logits), in double.
float token_logprob(const float* logits, int vocab, int token);
// log-sum-exp of the logits (log of softmax's denominator), in double.
double log_sum_exp(const float* logits, int vocab);
// The n most likely tokens with their log-probabilities, best first (ties: lower id first).
void top_logprobs(const float* logits, int vocab, int n, double lse, std::vector<TokenLogprob>& out);

struct SampledToken {
  int token = -1;
  float logprob = 0;            // under softmax(raw logits)
  float processed_logprob = 0;  // under the distribution actually sampled from (0 when greedy)
  double log_z = 0;             // log-sum-exp of the raw logits
};

class Sampler {
 public:
  Sampler(int vocab, const SamplingParams& params);
  // Tokens the repetition penalty counts besides the generated ones.
  void set_prompt(const std::vector<int>& prompt);
  // Picks the next token from raw logits [vocab] (not modified) and records it as generated.
  SampledToken sample(const float* logits);
  bool greedy() const { return greedy_; }

 private:
  bool penalized() const;
  void apply_penalties(float* z) const;
  // sample()'s stages (sampler.cpp): the penalized logits; the candidates ordered (top-k, or
  // a prefix holding top_p of the mass), returning their count and the mass top_p refers to;
  // their probabilities; the top-p and min-p cuts; the draw (index of the pick, kept mass).
  const float* penalize(const float* raw);
  int order_candidates(const float* z, double inv_t, double mx, double* top_p_base);
  double softmax_candidates(const float* z, int n, double inv_t, double mx);
  int keep_top_p(int n, double base) const;
  int keep_min_p(int n);
  int draw(int n, double* kept_mass);

  int vocab_;
  SamplingParams p_;
  bool greedy_;
  std::mt19937_64 rng_;
  std::vector<int> idx_;         // [vocab] candidate ids
  std::vector<double> prob_;     // [vocab] unnormalized probabilities of the candidates
  std::vector<float> work_;      // [vocab] penalized logits (only with penalties)
  std::vector<int32_t> counts_;  // [vocab] times generated (only with penalties)
  std::vector<uint8_t> in_prompt_;
  std::vector<int> seen_;  // ids with counts_ > 0 or in_prompt_, each once
};

}  // namespace wick
