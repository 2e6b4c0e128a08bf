// The operations a model's forward pass is written in. A model says *what* is computed by
// calling these; a backend says *how*. Activations are dense row-major float32 matrices
// [n_tokens, width] in the backend's memory; weights are Tensor views of any supported dtype.
// Adding a backend (CUDA) means implementing this interface, never touching model code.
//
// Batch invariance: every op computes each output row from its own input row with the same
// instruction sequence whatever the number of rows or threads, so a sequence decoded inside a
// batch gets bit-identical logits to the same sequence decoded alone (seeded sampling then
// reproduces across batch sizes). Kernels must keep this property.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "wick/model_config.h"  // Activation

namespace wick {

// Causal attention of a batch of query tokens, each from its own sequence, over a KV cache
// stored in blocks (see runtime/kv_cache.h): position j of a query's sequence lives in row
// block_tables[t][j / block_size] * block_size + j % block_size of k_cache / v_cache. A
// contiguous cache is the special case of one block of max_ctx rows.
struct AttentionArgs {
  float* out;           // [n_tokens, n_heads * head_dim]
  const float* q;       // [n_tokens, n_heads * head_dim], rotary already applied
  const void* k_cache;  // [rows, n_kv_heads * head_dim] of kv_dtype: the layer's block pool
  const void* v_cache;  // same layout as k_cache
  int n_tokens;
  const int32_t* positions;            // [n_tokens] position of each query in its sequence
  const int32_t* const* block_tables;  // [n_tokens] the block table of each query's sequence
  int block_size;                      // rows per block
  int n_heads;
  int n_kv_heads;
  int head_dim;
  int window;                   // > 0: a query at position i sees keys j with i - window < j <= i
  float scale;                  // softmax scale, 1 / sqrt(head_dim)
  DType kv_dtype = DType::F32;  // F32 or F16
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int n_threads() const { return 1; }

  // Sizes scratch memory once, before the first forward pass: the widest weight row, the
  // longest attention span and the most rows (tokens) one op sees. Nothing is allocated by the
  // ops themselves.
  virtual void reserve(int64_t max_cols, int64_t max_ctx, int64_t max_rows) {}

  // y[t, :] = table[ids[t], :] converted to float.                 y: [n, table.cols]
  virtual void embed(float* y, const Tensor& table, const int32_t* ids, int n) = 0;
  // y = x / sqrt(mean(x^2) + eps) * weight, row by row.            x, y: [n, dim]
  virtual void rms_norm(float* y, const float* x, int n, int dim, const Tensor& weight, float eps) = 0;
  // y = x W^T (+ bias).  x: [n, W.cols], y: [n, W.rows] with row stride y_stride (0 = W.rows)
  virtual void matmul(float* y, const float* x, int n, const Tensor& w, const Tensor* bias, int64_t y_stride = 0) = 0;
  // Rotary embedding in the rotate_half convention of transformers' apply_rotary_pos_emb:
  // for i < d/2: (x_i, x_{i+d/2}) <- (x_i c_i - x_{i+d/2} s_i, x_{i+d/2} c_i + x_i s_i).
  // x: [n, row_stride] holding n_heads heads of head_dim; cos/sin: [n, head_dim / 2].
  virtual void rope(float* x, int n, int n_heads, int head_dim, int64_t row_stride, const float* cos, const float* sin) = 0;
  // Causal (optionally sliding-window) grouped-query attention over the cache. Keys of the
  // current tokens must already be in the cache (see scatter_rows).
  virtual void attention(const AttentionArgs& a) = 0;
  // dst[rows[t], :] = src[t, :] for t < n (writing keys/values into their cache rows).
  // dst holds dst_dtype values (F32, or F16 rounded to nearest even).
  virtual void scatter_rows(void* dst, DType dst_dtype, const int64_t* rows, const float* src, int n, int64_t width) = 0;
  // dst[t, :] = src[rows[t], :] for t < n.
  virtual void gather_rows(float* dst, const float* src, const int32_t* rows, int n, int64_t width) = 0;
  // gate = act(gate) * up, elementwise over `count` floats (the gated MLP: SwiGLU for SiLU,
  // GeGLU for the GELUs).
  virtual void gated_activation(float* gate, const float* up, int64_t count, Activation act) = 0;
  // y += x, elementwise.
  virtual void add(float* y, const float* x, int64_t count) = 0;
  // x = act(x), elementwise: SiLU x·σ(x), ReLU, GELU in its exact erf form
  // 0.5·x·(1 + erf(x/√2)) (torch.nn.GELU's default), or GELU's tanh approximation
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (torch.nn.GELU(approximate="tanh")).
  virtual void activation(float* x, int64_t count, Activation act) = 0;
  // y = (x - mean) / sqrt(var + eps) * weight (+ bias), row by row, with the biased variance
  // (torch.nn.LayerNorm).                                           x, y: [n, dim]
  virtual void layer_norm(float* y, const float* x, int n, int dim, const Tensor& weight, const Tensor* bias, float eps) = 0;
};

// The multithreaded, vectorized CPU backend. n_threads 0 = all cores.
std::unique_ptr<Backend> make_cpu_backend(int n_threads);
// The scalar reference: plain loops, double accumulation, one thread. Tests compare against it.
std::unique_ptr<Backend> make_reference_backend();

}  // namespace wick
