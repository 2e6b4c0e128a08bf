// The operations a model's forward pass is written in, and the memory they work on. A model says
// *what* is computed by calling these; a backend says *how*, and where the bytes live.
// Activations are dense row-major float32 matrices [n_tokens, width] in the backend's memory
// (BufferRef); weights are Tensor views of any supported dtype placed there (place_weight).
// Adding a backend (CUDA) means implementing this interface, never touching model code.
//
// Batch invariance: every op computes each output row from its own input row with the same
// instruction sequence whatever the number of rows or threads, so a sequence decoded inside a
// batch gets bit-identical logits to the same sequence decoded alone (seeded sampling then
// reproduces across batch sizes). Kernels must keep this property.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "wick/model_config.h"  // Activation

namespace wick {

// An address in a backend's memory: an allocation (what Backend::alloc returned) plus a byte
// offset. Opaque to everyone but the backend that made it: a host pointer for the CPU, a device
// pointer for CUDA, a tagged arena offset for the reference backend (which any host access
// through it would fault on). Code above the backends moves these around and never looks inside.
struct BufferRef {
  uint64_t addr = 0;  // 0: no buffer

  explicit operator bool() const { return addr != 0; }
  BufferRef operator+(int64_t bytes) const { return {addr + static_cast<uint64_t>(bytes)}; }
  // Element i of an array of T starting here.
  template <typename T>
  BufferRef at(int64_t i) const {
    return *this + i * static_cast<int64_t>(sizeof(T));
  }
  bool operator==(const BufferRef&) const = default;
};

// Where the KV cache keeps the key (or value) row of a slot and KV head: PagedAttention's blocks
// (runtime/kv_cache.h), head-major within a block, as vLLM's paged cache. Slot s is position
// s % block_size of block s / block_size; a block holds n_kv_heads runs of block_size rows of
// head_dim values, so one head's keys of a block lie side by side and attention, which reads
// one KV head at a time, streams them. Rows of a whole position (every head side by side, as
// before) put a head's rows kv_dim apart; on Zen 2 one core's decode attention at depth 4096
// (bench/attention_bench.cpp) read DeepSeek-Prover-V2-7B's shape at 9.0 GB/s (F32) and 5.3
// (F16) that way and 11.5-11.8 and 8.4-8.7 this way; TinyLlama-1.1B's F16 2.8 against 3.5-3.6.
struct KvLayout {
  int block_size;  // positions per block
  int n_kv_heads;
  int head_dim;

  int64_t block_values() const { return static_cast<int64_t>(block_size) * n_kv_heads * head_dim; }
  // The first of the head_dim values of slot `slot`, KV head `head`.
  int64_t offset(int64_t slot, int head) const {
    return ((slot / block_size * n_kv_heads + head) * block_size + slot % block_size) * head_dim;
  }
};

// Causal attention of a batch of query tokens, each from its own sequence, over a KV cache
// stored in blocks (KvLayout): position j of a query's sequence is slot
// table[j / block_size] * block_size + j % block_size, where table is row seq[t] of
// block_tables. A contiguous cache is the special case of one block of max_ctx rows.
// Every array is in the backend's memory.
struct AttentionArgs {
  BufferRef out;      // [n_tokens, n_heads * head_dim] float
  BufferRef q;        // [n_tokens, n_heads * head_dim] float, rotary already applied
  BufferRef k_cache;  // [blocks][n_kv_heads][block_size][head_dim] of kv_dtype: the layer's block pool
  BufferRef v_cache;  // same layout as k_cache
  int n_tokens;
  BufferRef positions;     // int32 [n_tokens] position of each query in its sequence
  BufferRef seq;           // int32 [n_tokens] the row of block_tables holding its sequence's table
  BufferRef block_tables;  // int32 [n_seqs, table_stride] block ids
  int table_stride;        // entries per block table row
  int block_size;          // rows per block
  int n_heads;
  int n_kv_heads;
  int head_dim;
  int window;                   // > 0: a query at position i sees keys j with i - window < j <= i
  float scale;                  // softmax scale: 1 / sqrt(head_dim), or the model's query scale
  float softcap = 0;            // > 0: scores become softcap * tanh(score / softcap) before the softmax (Gemma 2)
  DType kv_dtype = DType::F32;  // F32 or F16

  KvLayout kv_layout() const { return {.block_size = block_size, .n_kv_heads = n_kv_heads, .head_dim = head_dim}; }
};

class BackendBuffer;

// How the kernels will walk a buffer, so that a backend can place it to suit (the CPU backend
// chooses its page size by it).
struct BufferAccess {
  int64_t run_stride = 0;  // > 0: read in short runs this many bytes apart (a KV head's rows of each block)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int n_threads() const { return 1; }

  // --- memory ---
  // Everything an op reads or writes lives in the backend's memory: activations, the KV block
  // pool, block tables, weights. Allocation happens at set-up (never per token); alloc returns
  // uninitialized memory (the CPU's untouched pages cost nothing until written) and throws
  // kResourceExhausted when it cannot.
  virtual BufferRef alloc(size_t bytes, BufferAccess access) = 0;
  virtual void free(BufferRef buffer) = 0;  // what alloc returned
  virtual void upload(BufferRef dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, BufferRef src, size_t bytes) const = 0;
  virtual void copy(BufferRef dst, BufferRef src, size_t bytes) = 0;  // within the backend; may not overlap
  // Weights: a view the ops can read. A backend that reads host memory in place (the CPU: the
  // memory-mapped file, no copy) returns `host` itself; others return a view of an upload,
  // allocated into `owned` (freed with it).
  virtual Tensor place_weight(const Tensor& host, std::vector<BackendBuffer>& owned);
  // Before place_weight: whether this backend will run one-token decode steps, or only whole
  // prompts (a layout that pays off in decode but costs load time can then be skipped).
  virtual void set_decodes(bool decodes) {}

  // Sizes scratch memory once, before the first forward pass: the widest weight row, the
  // longest attention span and the most rows (tokens) one op sees. Nothing is allocated by the
  // ops themselves.
  virtual void reserve(int64_t max_cols, int64_t max_ctx, int64_t max_rows) {}

  // --- ops: every BufferRef is float unless said otherwise ---
  // y[t, :] = table[ids[t], :] converted to float.       y: [n, table.cols]; ids: int32 [n]
  virtual void embed(BufferRef y, const Tensor& table, BufferRef ids, int n) = 0;
  // y = x / sqrt(mean(x^2) + eps) * (weight_offset + weight), row by row (Gemma's norms store
  // weight - 1: offset 1, added in float as Gemma2RMSNorm does).   x, y: [n, dim]
  virtual void rms_norm(BufferRef y, BufferRef x, int n, int dim, const Tensor& weight, float eps, float weight_offset = 0) = 0;
  // y = x W^T (+ bias).  x: [n, W.cols], y: [n, W.rows] with row stride y_stride (0 = W.rows)
  virtual void matmul(BufferRef y, BufferRef x, int n, const Tensor& w, const Tensor* bias, int64_t y_stride = 0) = 0;
  // Several products of one input (q / k / v, gate / up): products[i].y = x W_i^T (+ bias_i),
  // each exactly what matmul gives. A backend may share the work on x (the CPU quantizes it once
  // and runs every product's row spans in one pass of its threads). By default, one matmul each.
  struct Product {
    BufferRef y;
    const Tensor* w;
    const Tensor* bias;
    int64_t y_stride = 0;  // as matmul's
  };
  virtual void matmuls(std::span<const Product> products, BufferRef x, int n) {
    for (const Product& p : products) matmul(p.y, x, n, *p.w, p.bias, p.y_stride);
  }
  // Rotary embedding in the rotate_half convention of transformers' apply_rotary_pos_emb, on the
  // first d = rotary_dim values of each head (the rest pass through, as StableLM's partial rotary):
  // for i < d/2: (x_i, x_{i+d/2}) <- (x_i c_i - x_{i+d/2} s_i, x_{i+d/2} c_i + x_i s_i).
  // x: [n, row_stride] holding n_heads heads of head_dim; cos/sin: [n, rotary_dim / 2].
  virtual void rope(BufferRef x, int n, int n_heads, int head_dim, int rotary_dim, int64_t row_stride, BufferRef cos, BufferRef sin) = 0;
  // Causal (optionally sliding-window) grouped-query attention over the cache. Keys of the
  // current tokens must already be in the cache (see store_kv).
  virtual void attention(const AttentionArgs& a) = 0;
  // Writes n tokens' keys (or values) into their cache slots: head h of src[t, :] (head_dim
  // values at h * head_dim) goes to cache + layout.offset(slots[t], h) values. cache holds dtype
  // values (F32, or F16 rounded to nearest even).  src: [n, n_kv_heads * head_dim]; slots: int64 [n].
  virtual void store_kv(BufferRef cache, DType dtype, const KvLayout& layout, BufferRef slots, BufferRef src, int n) = 0;
  // dst[t, :] = src[rows[t], :] for t < n; rows: int32 [n].
  virtual void gather_rows(BufferRef dst, BufferRef src, BufferRef rows, int n, int64_t width) = 0;
  // gate = act(gate) * up, elementwise over `count` floats (the gated MLP: SwiGLU for SiLU,
  // GeGLU for the GELUs).
  virtual void gated_activation(BufferRef gate, BufferRef up, int64_t count, Activation act) = 0;
  // y += x, elementwise.
  virtual void add(BufferRef y, BufferRef x, int64_t count) = 0;
  // x *= factor, elementwise (Gemma's embedding scale).
  virtual void scale(BufferRef x, int64_t count, float factor) = 0;
  // x = cap * tanh(x / cap), elementwise (Gemma 2's final logit soft-capping).
  virtual void softcap(BufferRef x, int64_t count, float cap) = 0;
  // x = act(x), elementwise: SiLU x·σ(x), ReLU, GELU in its exact erf form
  // 0.5·x·(1 + erf(x/√2)) (torch.nn.GELU's default), or GELU's tanh approximation
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (torch.nn.GELU(approximate="tanh")).
  virtual void activation(BufferRef x, int64_t count, Activation act) = 0;
  // y = (x - mean) / sqrt(var + eps) * weight (+ bias), row by row, with the biased variance
  // (torch.nn.LayerNorm).                                           x, y: [n, dim]
  virtual void layer_norm(BufferRef y, BufferRef x, int n, int dim, const Tensor& weight, const Tensor* bias, float eps) = 0;
};

// Memory a backend allocated, freed with this object (move-only): activations, the KV pool,
// uploaded weights.
class BackendBuffer {
 public:
  BackendBuffer() = default;
  BackendBuffer(Backend& backend, size_t bytes, BufferAccess access = {})
      : backend_(&backend), ref_(backend.alloc(bytes, access)), bytes_(bytes) {}
  BackendBuffer(BackendBuffer&& o) noexcept { *this = std::move(o); }
  BackendBuffer& operator=(BackendBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_;
      ref_ = o.ref_;
      bytes_ = o.bytes_;
      o.backend_ = nullptr;
      o.ref_ = {};
      o.bytes_ = 0;
    }
    return *this;
  }
  BackendBuffer(const BackendBuffer&) = delete;
  BackendBuffer& operator=(const BackendBuffer&) = delete;
  ~BackendBuffer() { reset(); }

  BufferRef ref(int64_t offset = 0) const { return ref_ + offset; }
  size_t size() const { return bytes_; }
  void reset() {
    if (backend_ && ref_) backend_->free(ref_);
    backend_ = nullptr;
    ref_ = {};
    bytes_ = 0;
  }

 private:
  Backend* backend_ = nullptr;
  BufferRef ref_;
  size_t bytes_ = 0;
};

// The multithreaded, vectorized CPU backend. n_threads 0 = all cores.
std::unique_ptr<Backend> make_cpu_backend(int n_threads);
// The scalar reference: plain loops, double accumulation, one thread. Tests compare against it.
// Its memory is a private arena behind tagged addresses that fault if anything outside the
// backend dereferences them, and every access is bounds-checked: running a model on it proves
// that nothing above the Backend interface reaches around it (device "reference").
std::unique_ptr<Backend> make_reference_backend();

}  // namespace wick
