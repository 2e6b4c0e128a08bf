// One sequence being generated: its sampler, stop conditions, streamed text and the result
// being built. The same state drives a single Session and a sequence inside a batch, so both
// produce identical results for the same seed.
#pragma once

#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "wick/generate.h"

namespace wick {

class DecodeState {
 public:
  // `seed` is this sequence's stream (params.sampling.seed for a single sequence,
  // sequence_seed(seed, i) for the i-th of a batch).
  DecodeState(const Model& model, const GenerateParams& params, uint64_t seed, std::vector<int> prompt_tokens);

  // True before anything is sampled when max_new_tokens is 0.
  bool finished() const { return finished_; }
  // Samples the next token from the logits of the last position, records its log-probs and
  // text, and checks the stop conditions. Returns the token; when finished() turns true the
  // token is not to be fed back to the model.
  int step(const float* logits);
  // Flushes the text held back (stream decoder, possible stop-string prefixes) and returns the
  // finished result.
  GenerateResult& finish();
  GenerateResult& result() { return r_; }

 private:
  void add_text(const std::string& piece);
  void emit_up_to(size_t end);
  size_t held_back() const;  // bytes at the end of the text that may start a stop string

  const Model& model_;
  const GenerateParams& params_;
  Sampler sampler_;
  StreamDecoder stream_;
  std::vector<int> stop_ids_;
  std::vector<TokenLogprob> top_;
  GenerateResult r_;
  size_t emitted_ = 0;  // bytes of r_.text passed to on_text
  bool finished_ = false;
  bool flushed_ = false;
};

// The stop token ids of a request: params.stop_token_ids, plus the model's EOS ids unless
// ignore_eos.
std::vector<int> stop_token_ids(const Model& model, const GenerateParams& params);
// Throws kInvalidArgument for bad sampling parameters, max_new_tokens < 0, empty stop strings,
// top_logprobs outside 0..100.
void validate_generate_params(const GenerateParams& params);

}  // namespace wick
