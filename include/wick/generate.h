// Text generation: sampling parameters, stopping, log-probabilities and streaming.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "wick/model.h"

namespace wick {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off; keep the smallest set of tokens with mass >= top_p
  uint64_t seed = 0;
};

struct GenerateParams {
  SamplingParams sampling;
  int max_new_tokens = 128;
  bool add_special_tokens = true;    // BOS per the tokenizer config
  std::vector<int> stop_token_ids;   // in addition to the model's EOS ids
  bool ignore_eos = false;
  // Called with each piece of newly complete text as tokens are generated. The pieces continue
  // the prompt's text (decode(prompt + generated) minus decode(prompt)), so printing the prompt
  // and then the pieces shows the right spacing.
  std::function<void(const std::string& piece)> on_text;
};

struct GenerateResult {
  std::vector<int> prompt_tokens;
  std::vector<int> tokens;      // generated ids only (a stop token included if one ended it)
  std::string text;             // decoded generated text (special tokens skipped)
  std::vector<float> logprobs;  // log p(token) under the model's unmodified distribution
  std::string finish_reason;    // "stop" | "length"
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Greedy when temperature == 0 (or top_k == 1); otherwise temperature -> top-k -> top-p ->
// sample with a std::mt19937_64 seeded from `seed`, so a seed reproduces its output exactly.
Result<GenerateResult> generate(Session& session, const std::string& prompt, const GenerateParams& params);
Result<GenerateResult> generate_from_tokens(Session& session, const std::vector<int>& prompt_tokens,
                                            const GenerateParams& params);

}  // namespace wick
