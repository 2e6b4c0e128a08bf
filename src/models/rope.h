// Rotary position embedding tables for every rope_scaling type of transformers
// (modeling_rope_utils.py: ROPE_INIT_FUNCTIONS and the dynamic_rope_update decorator).
#pragma once

#include <vector>

#include "wick/model_config.h"

namespace wick {

class RotaryEmbedding {
 public:
  explicit RotaryEmbedding(const ModelConfig& cfg);

  // cos/sin for positions pos0 .. pos0 + n - 1, each [n, rope_dims / 2], already multiplied by
  // the attention factor (yarn, longrope). `seq_len` is the sequence length the frequencies are
  // chosen for: transformers uses max(position_ids) + 1 of the current forward call, which is
  // what makes "dynamic" and "longrope" depend on how long the sequence has grown.
  void compute(int pos0, int n, int seq_len, float* cos, float* sin);

  const std::vector<float>& inv_freq_for(int seq_len);
  float attention_factor() const { return attention_factor_; }

 private:
  const ModelConfig cfg_;
  int dim_;
  float attention_factor_ = 1.0f;
  std::vector<float> inv_freq_;       // default / linear / yarn / llama3 / longrope short
  std::vector<float> inv_freq_long_;  // longrope, sequences longer than the original context
  std::vector<float> inv_freq_dyn_;   // dynamic NTK, recomputed as the sequence grows
  int dyn_seq_len_ = -1;
  int longrope_original_ = 0;
};

// inv_freq[i] = 1 / base^(2i / dim), in float32 as transformers computes it.
std::vector<float> default_inv_freq(double base, int dim);
void fill_default_inv_freq(double base, int dim, float* inv);

}  // namespace wick
