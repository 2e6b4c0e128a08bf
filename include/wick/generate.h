// Text generation: sampling parameters, stopping, log-probabilities and streaming.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "wick/model.h"

namespace wick {

// The sampler chain, in the order transformers' generate applies it (generation/utils.py
// _get_logits_processor): penalties -> temperature -> top-k -> top-p -> min-p -> a seeded draw.
struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy (argmax of the penalized logits)
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off; keep the smallest set of tokens with mass >= top_p
  uint64_t seed = 0;
  float min_p = 0.0f;  // 0: off; keep tokens with p >= min_p * p(most likely token)
  // Penalties, as vLLM defines them: repetition (CTRL, arXiv:1909.05858; transformers'
  // RepetitionPenaltyLogitsProcessor) divides positive / multiplies negative logits of every
  // token seen in the prompt or the output; presence subtracts a constant from the logits of
  // tokens already generated, frequency subtracts it times their count (OpenAI's definition).
  float repetition_penalty = 1.0f;  // 1: off; > 0
  float presence_penalty = 0.0f;    // 0: off
  float frequency_penalty = 0.0f;   // 0: off
};

// The seed of the index-th sequence of a multi-sequence request (generate_candidates,
// generate_batch) made with `seed`: every sequence draws from its own stream, and sequence i of
// a batch reproduces exactly when generated alone with seed sequence_seed(seed, i).
uint64_t sequence_seed(uint64_t seed, int index);

struct TokenLogprob {
  int token = -1;
  float logprob = 0;
};

struct GenerateParams {
  SamplingParams sampling;
  int max_new_tokens = 128;
  bool add_special_tokens = true;   // BOS per the tokenizer config
  std::vector<int> stop_token_ids;  // in addition to the model's EOS ids
  std::vector<std::string> stop;    // stop strings: generation ends when the text contains one;
                                    // the text is cut before it (it may span several tokens)
  bool ignore_eos = false;
  bool processed_logprobs = false;  // also report log p under the processed distribution
  int top_logprobs = 0;             // report the N most likely tokens of each step (raw)
  bool prompt_logprobs = false;     // report log p of every prompt token given the ones before
  // Called with each piece of newly complete text as tokens are generated. The pieces continue
  // the prompt's text (decode(prompt + generated) minus decode(prompt)), so printing the prompt
  // and then the pieces shows the right spacing. Text that may be the start of a stop string is
  // held back until it is known not to be one; the pieces concatenate to `text`.
  std::function<void(const std::string& piece)> on_text;
};

struct GenerateResult {
  std::vector<int> prompt_tokens;
  std::vector<int> tokens;                              // generated ids (the stop token or the tokens of a stop string included)
  std::string text;                                     // the generated text, continuing the prompt's text, special tokens
                                                        // skipped, cut before a stop string
  std::vector<float> logprobs;                          // log p(token) under the model's unmodified distribution
  std::vector<float> processed_logprobs;                // with processed_logprobs: after the sampler chain
  std::vector<std::vector<TokenLogprob>> top_logprobs;  // with top_logprobs: [step][N], best first
  std::vector<float> prompt_logprobs;                   // with prompt_logprobs: [prompt size - 1], for tokens 1..
  double logprob = 0;                                   // sum of logprobs
  std::string finish_reason;                            // "stop" (EOS, stop token or stop string) | "length"
  std::string stop_reason;                              // the stop string or "token:<id>" that ended it; "" for length
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Prefills the prompt in the session (from position 0) and samples up to max_new_tokens.
Result<GenerateResult> generate(Session& session, const std::string& prompt, const GenerateParams& params);
Result<GenerateResult> generate_from_tokens(Session& session, const std::vector<int>& prompt_tokens, const GenerateParams& params);

}  // namespace wick
