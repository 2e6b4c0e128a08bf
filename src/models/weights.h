// The canonical weights every Llama-family model is computed from, whatever the file format
// and whatever the architecture's own tensor names. Optional tensors (biases) are empty views.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace wick {

struct LayerWeights {
  Tensor attn_norm;            // [hidden]
  Tensor wq, wk, wv, wo;       // [q_dim, hidden], [kv_dim, hidden] x2, [hidden, q_dim]
  Tensor bq, bk, bv, bo;       // optional biases
  Tensor ffn_norm;             // [hidden]
  Tensor w_gate, w_up, w_down; // [inter, hidden] x2, [hidden, inter]
  Tensor b_gate, b_up, b_down; // optional biases
};

struct ModelWeights {
  Tensor token_embd;   // [vocab, hidden]
  Tensor output_norm;  // [hidden]
  Tensor output;       // [vocab, hidden] (may alias token_embd)
  std::vector<LayerWeights> layers;
};

}  // namespace wick
