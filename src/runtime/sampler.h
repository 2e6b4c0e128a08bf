// Picks the next token from logits: greedy, or temperature -> top-k -> top-p -> a draw from a
// seeded std::mt19937_64 (whose output sequence the C++ standard fixes, so a seed reproduces
// on every platform). All buffers are allocated at construction.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "wick/generate.h"

namespace wick {

// Throws kInvalidArgument for a negative/non-finite temperature, top_p outside (0, 1], top_k < 0.
void validate_sampling(const SamplingParams& p);

// log p(token) under softmax(logits), computed in double.
float token_logprob(const float* logits, int vocab, int token);

class Sampler {
 public:
  Sampler(int vocab, const SamplingParams& params);
  int sample(const float* logits);
  bool greedy() const { return greedy_; }

 private:
  int vocab_;
  SamplingParams p_;
  bool greedy_;
  std::mt19937_64 rng_;
  std::vector<int> idx_;
  std::vector<double> prob_;
};

}  // namespace wick
