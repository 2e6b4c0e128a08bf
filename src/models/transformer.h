// The decoder-only transformer shared by the Llama family (Llama, Mistral, Qwen2, Phi-3):
// what transformers' LlamaModel.forward computes, written against the Backend ops.
//
// Every intermediate has a stable name, passed to an optional hook, so a test can dump it and
// say which layer diverged from the reference:
//   embd                         [n, hidden]   token embeddings
//   blk.L.attn_norm              [n, hidden]   input_layernorm output
//   blk.L.attn_out               [n, hidden]   o_proj output
//   blk.L.ffn_norm               [n, hidden]   post_attention_layernorm output
//   blk.L.ffn_out                [n, hidden]   down_proj output
//   blk.L.out                    [n, hidden]   residual stream after layer L
//   out_norm                     [n, hidden]   final norm
//   logits                       [m, vocab]    m = n with all_logits, else 1 (last token)
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "backends/backend.h"
#include "models/model.h"
#include "models/rope.h"

namespace wick {

using ActivationHook = std::function<void(const char* name, const float* data, int rows, int cols)>;

// Where the keys and values of each layer live: [max_ctx, kv_dim] float rows per layer.
struct KvLayout {
  std::vector<float*> k;  // one per layer
  std::vector<float*> v;
  int max_ctx = 0;
};

class Transformer {
 public:
  // Allocates every activation buffer for up to max_tokens tokens per call. all_logits: keep
  // logits for every token of a call (scoring), not just the last.
  Transformer(const LoadedModel& model, Backend& backend, int max_tokens, int max_ctx, bool all_logits);

  // Runs tokens at positions pos0 .. pos0+n-1 (n <= max_tokens), writing their keys/values into
  // kv. Returns the logits: [n, vocab] if all_logits, else [1, vocab] for the last token.
  const float* forward(const int32_t* tokens, int n, int pos0, const KvLayout& kv, const ActivationHook* hook = nullptr);

  int max_tokens() const { return max_tokens_; }
  int vocab_size() const { return cfg_.vocab_size; }

 private:
  void emit(const ActivationHook* hook, const char* name, int layer, const float* data, int rows, int cols) const;

  const LoadedModel& model_;
  const ModelConfig& cfg_;
  Backend& be_;
  RotaryEmbedding rope_;
  int max_tokens_;
  bool all_logits_;
  // Activations, [max_tokens, width] each.
  std::vector<float> x_, h_, q_, att_, proj_, gate_, up_, logits_, cos_, sin_;
};

}  // namespace wick
