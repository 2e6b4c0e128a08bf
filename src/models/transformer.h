// The decoder-only transformer shared by the Llama family (Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 2):
// what transformers' LlamaModel.forward computes, written against the Backend ops. What differs
// between families is declared in ModelConfig's layer shape (qk_norm, hidden_act, windows,
// post_norms, soft-capping, embedding and query scales) and
// read here as flags, never as family names.
//
// Every intermediate has a stable name, passed to an optional hook, so a test can dump it and
// say which layer diverged from the reference:
//   embd                         [n, hidden]   token embeddings
//   blk.L.attn_norm              [n, hidden]   input_layernorm output
//   blk.L.attn_out               [n, hidden]   o_proj output (post-attention normed, with post_norms)
//   blk.L.ffn_norm               [n, hidden]   the MLP's input norm (Llama's post_attention_layernorm)
//   blk.L.ffn_out                [n, hidden]   down_proj output (post-feedforward normed, with post_norms)
//   blk.L.out                    [n, hidden]   residual stream after layer L
//   out_norm                     [m, hidden]   final norm of the m output rows
//   logits                       [m', vocab]   the m' of them that want logits
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "backends/backend.h"
#include "models/model.h"
#include "models/rope.h"
#include "wick/activation_callback.h"

namespace wick {

// Where the keys and values of each layer live, in the backend's memory: a pool of blocks of
// `block_size` positions (F32 or F16, laid out as backends/backend.h's KvLayout) per layer
// (runtime/kv_cache.h).
struct KvCacheBuffers {
  std::vector<BufferRef> k;  // one per layer: [n_blocks][n_kv_heads][block_size][head_dim]
  std::vector<BufferRef> v;
  int block_size = 0;
  DType dtype = DType::F32;
};

// One forward call: n tokens, each from some sequence at some position (a prefill chunk, a
// batch of decode steps of different sequences, or a mix). All arrays are the caller's, in host
// memory; forward uploads what the backend needs.
struct TokenBatch {
  int n = 0;
  const int32_t* tokens = nullptr;               // [n]
  const int32_t* positions = nullptr;            // [n] position of each token in its sequence
  const int32_t* seq_lens = nullptr;             // [n] its sequence's length after this call (rope scaling)
  const int32_t* const* block_tables = nullptr;  // [n] its sequence's block table
  const int64_t* kv_slots = nullptr;             // [n] cache slot its keys/values go to (KvCache::slot)
  int n_out = 0;                                 // tokens whose final hidden state is wanted
  const int32_t* out_rows = nullptr;             // [n_out] indices into the n tokens
  int n_logits = 0;                              // the first n_logits of out_rows also get logits
};

class Transformer {
 public:
  // Places the weights on the backend and allocates, there, every activation buffer for up to
  // max_tokens tokens per call (any of them may return its hidden state), of which up to
  // max_logit_rows return logits; max_ctx is the longest sequence, kv_block_size the KV cache's
  // rows per block (for the block tables uploaded each call). Nothing is allocated after this.
  Transformer(const LoadedModel& model, Backend& backend, int max_tokens, int max_logit_rows, int max_ctx, int kv_block_size);

  // Runs the batch, writing its keys/values into kv first. Returns the final-norm hidden states
  // of the out rows, [n_out, hidden]; logits() then holds [n_logits, vocab] for the first
  // n_logits of them (transformers' LlamaForCausalLM: lm_head(norm(h))). Both are host copies.
  const float* forward(const TokenBatch& batch, const KvCacheBuffers& kv, const ActivationCallback* hook = nullptr);
  const float* logits() const { return logits_host_.data(); }
  const float* hidden() const { return hidden_host_.data(); }

  int max_tokens() const { return max_tokens_; }
  int max_logit_rows() const { return max_logit_rows_; }
  int vocab_size() const { return cfg_.vocab_size; }

 private:
  void emit(const ActivationCallback* hook, const char* name, int layer, BufferRef data, int rows, int cols);
  // The model's norm over rows of hidden_size: RMSNorm scaling by (norm_weight_offset + weight),
  // or LayerNorm with its bias (layer_norm models). y may be x.
  void norm(BufferRef y, BufferRef x, int n, const Tensor& weight, const Tensor& bias);
  // The batch's inputs in host staging, then one upload each: tokens, positions, cache rows,
  // output rows, cos/sin, and one block table per sequence (runs of tokens sharing a table).
  void upload_inputs(const TokenBatch& b);

  const ModelConfig& cfg_;
  Backend& be_;
  std::vector<BackendBuffer> weight_buffers_;  // weights uploaded to a backend that does not read host memory
  ModelWeights w_;                             // the weights as the backend's ops read them
  RotaryEmbedding rope_;
  int max_tokens_;
  int max_logit_rows_;
  int max_ctx_;
  int block_size_;
  int table_stride_;  // block table entries per sequence: ceil(max_ctx / block_size)

  // Everything below lives in one backend allocation, carved once.
  BackendBuffer memory_;
  // Activations, [max_tokens, width] each (out: final norm); logits [max_logit_rows, vocab];
  // cos/sin [max_tokens, head_dim / 2].
  BufferRef x_, h_, q_, k_, v_, att_, proj_, gate_, up_, out_, logits_, cos_, sin_;
  // Inputs: tokens, positions, seq, out_rows int32 [max_tokens]; kv_slots int64 [max_tokens];
  // tables int32 [max_tokens, table_stride].
  BufferRef tokens_, positions_, seq_, out_rows_, kv_slots_, tables_;

  // Host staging, sized once.
  std::vector<int32_t> seq_host_, tables_host_;
  std::vector<float> cos_host_, sin_host_, hidden_host_, logits_host_;
  std::vector<float> hook_host_;  // only with an activation hook
};

}  // namespace wick
