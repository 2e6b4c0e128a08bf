// The canonical weights every Llama-family model is computed from, whatever the file format
// and whatever the architecture's own tensor names. Optional tensors (biases) are empty views.
#pragma once

#include <array>
#include <vector>

#include "core/tensor.h"

namespace wick {

struct LayerWeights {
  Tensor attn_norm;             // [hidden]
  Tensor attn_norm_b;           // [hidden], LayerNorm models (StableLM)
  Tensor wq, wk, wv, wo;        // [q_dim, hidden], [kv_dim, hidden] x2, [hidden, q_dim]
  Tensor bq, bk, bv, bo;        // optional biases
  Tensor q_norm, k_norm;        // [head_dim] each, when the config has qk_norm
  Tensor ffn_norm;              // [hidden]
  Tensor attn_post_norm;        // [hidden], when the config has post_norms (Gemma 2)
  Tensor ffn_post_norm;         // [hidden], likewise
  Tensor ffn_norm_b;            // [hidden], LayerNorm models
  Tensor w_gate, w_up, w_down;  // [inter, hidden] x2, [hidden, inter]
  Tensor b_gate, b_up, b_down;  // optional biases

  // Every tensor of the layer, empty ones included: the one list for code that walks them all
  // (parameter counts, placing weights on a backend).
  template <typename Self>  // LayerWeights or const LayerWeights
  static auto tensors(Self& s) {
    return std::array{&s.attn_norm,
                      &s.wq,
                      &s.wk,
                      &s.wv,
                      &s.wo,
                      &s.bq,
                      &s.bk,
                      &s.bv,
                      &s.bo,
                      &s.q_norm,
                      &s.k_norm,
                      &s.ffn_norm,
                      &s.w_gate,
                      &s.w_up,
                      &s.w_down,
                      &s.b_gate,
                      &s.b_up,
                      &s.b_down,
                      &s.attn_post_norm,
                      &s.ffn_post_norm,
                      &s.attn_norm_b,
                      &s.ffn_norm_b};
  }
  std::array<const Tensor*, 22> all() const { return tensors(*this); }
  std::array<Tensor*, 22> all() { return tensors(*this); }
  // The projection matrices (what quantization re-encodes).
  std::array<Tensor*, 7> matrices() { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
};

struct ModelWeights {
  Tensor token_embd;     // [vocab, hidden]
  Tensor output_norm;    // [hidden]
  Tensor output_norm_b;  // [hidden], LayerNorm models
  Tensor output;         // [vocab, hidden] (may alias token_embd)
  std::vector<LayerWeights> layers;
};

}  // namespace wick
