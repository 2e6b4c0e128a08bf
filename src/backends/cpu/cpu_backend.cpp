// The CPU backend: a persistent thread pool and per-ISA inner loops (cpu_isa.h).
// Matrices go through the tiled kernels (float GEMM for F32/F16/BF16, integer GEMM for every
// block-quantized type), each task over a contiguous span of weight rows.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_isa.h"
#include "backends/cpu/packed_weights.h"
#include "core/host_memory.h"
#include "core/quant.h"
#include "core/thread_pool.h"
#include "wick/error.h"

namespace wick {
namespace {

constexpr int64_t kRowBlock = 64;  // weight rows per matmul task (converted once, reused for every token)

// The CPU's addresses are host pointers.
template <typename T = float>
T* ptr(BufferRef r) {
  return reinterpret_cast<T*>(r.addr);
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int n_threads, CpuIsa isa) : pool_(n_threads), isa_(isa), k_(cpu_kernels(isa)) {
    const char* repack = std::getenv("WICK_REPACK");  // "0": weights read as stored (measurements of what packing gains)
    repack_ = !(repack && std::strcmp(repack, "0") == 0);
  }

  std::string name() const override { return std::string("cpu-") + cpu_isa_name(isa_); }
  void set_decodes(bool decodes) override { decodes_ = decodes; }
  int n_threads() const override { return pool_.size(); }

  BufferRef alloc(size_t bytes, BufferAccess access) override {
    // 64-byte aligned (whole AVX-512 vectors and cache lines); uninitialized, so the KV pool's
    // untouched pages cost no memory. Huge pages where the kernels read short runs 32 KB or
    // more apart (core/host_memory.h: a page walk that misses per run otherwise).
    void* p = allocate_host(bytes, runs_want_huge_pages(access.run_stride));
    if (!p) throw Error(ErrorCode::kResourceExhausted, "cpu backend: cannot allocate " + std::to_string(bytes) + " bytes");
    return {reinterpret_cast<uint64_t>(p)};
  }
  void free(BufferRef buffer) override { free_host(ptr<void>(buffer)); }
  void upload(BufferRef dst, const void* src, size_t bytes) override { std::memcpy(ptr<void>(dst), src, bytes); }
  void download(void* dst, BufferRef src, size_t bytes) const override { std::memcpy(dst, ptr<const void>(src), bytes); }
  void copy(BufferRef dst, BufferRef src, size_t bytes) override { std::memcpy(ptr<void>(dst), ptr<const void>(src), bytes); }
  // Host memory is the CPU's memory: weights are read where they are (the mapped file), except
  // the matrices a panel kernel takes (block-quantized, F16, BF16): packed once into its layout
  // (packed_weights.h; shared with other backends placing the same model), so no product
  // transposes or converts them again.
  Tensor place_weight(const Tensor& host, std::vector<BackendBuffer>&) override {
    const int group = group_rows(host.dtype, host.cols());
    if (!repack_ || group == 0 || host.packed || host.ndim != 2 || host.empty()) return host;
    // Prompts only: block types are read as stored (their prefill barely gains from packing);
    // F16 / BF16 / F32 still packed, their prefill kernel reads only the packed layout.
    if (!decodes_ && dtype_info(host.dtype).quantized) return host;
    auto packed = shared_packed_matrix(host, group, [this](int64_t n, const std::function<void(int64_t)>& task) {
      pool_.parallel_for(n, [&](int64_t i, int) { task(i); });
    });
    Tensor t = host;
    t.data = packed->data();
    t.packed = true;
    packed_.push_back(std::move(packed));
    return t;
  }
  // Rows per packed group for matrices of `dt` with rows of k values: the panel kernels' (F16 /
  // BF16 rows: float_panel_rows; block types: panel_rows); 0 where they are read as stored.
  int group_rows(DType dt, int64_t k) const {
    if (!packable(dt, k)) return 0;
    if (dt == DType::F16 || dt == DType::BF16 || dt == DType::F32) return k_.float_panel_rows;
    return k_.block_gemm_takes(dt, k) ? k_.panel_rows : 0;
  }

  void reserve(int64_t max_cols, int64_t max_ctx, int64_t max_rows) override {
    max_cols_ = std::max(max_cols_, max_cols);
    max_ctx_ = std::max(max_ctx_, max_ctx);
    max_rows_ = std::max(max_rows_, max_rows);
    // Activations quantized to 8 bits for the integer kernels: [max_rows][max_cols].
    act_.resize(max_rows_, max_cols_);
    // 64-byte aligned: the AVX-512 kernels load them as whole vectors.
    panels_.assign(static_cast<size_t>(pool_.size() * block_panel_bytes(max_cols_) / 64), Line{});
    weight_scratch_.assign(static_cast<size_t>(pool_.size() * kRowBlock * max_cols_), 0.0f);
    attention_scratch_.assign(static_cast<size_t>(pool_.size() * kAttentionScratch), 0.0f);
    tile_queries_.assign(static_cast<size_t>(pool_.size()), TileQueries{});
    tile_start_.assign(static_cast<size_t>(max_rows_ + 1), 0);
  }

  void embed(BufferRef y_ref, const Tensor& table, BufferRef ids_ref, int n) override {
    float* y = ptr(y_ref);
    const int32_t* ids = ptr<const int32_t>(ids_ref);
    const int64_t d = table.cols();
    if (!table.packed) {
      for (int t = 0; t < n; ++t) to_f32(table, ids[t], 1, y + t * d);
      return;
    }
    // A packed table (a tied output matrix): each row's bytes gathered back, then decoded.
    const PackedShape s = packed_shape(table.dtype, table.rows(), d, group_rows(table.dtype, d));
    row_bytes_.resize(static_cast<size_t>(s.row_bytes));
    const Tensor row{.dtype = table.dtype, .ndim = 1, .shape = {d, 0, 0, 0}, .data = row_bytes_.data()};
    for (int t = 0; t < n; ++t) {
      unpack_row(s, static_cast<const uint8_t*>(table.data), ids[t], row_bytes_.data());
      to_f32(row, 0, 1, y + t * d);
    }
  }

  void rms_norm(BufferRef y_ref, BufferRef x_ref, int n, int dim, const Tensor& weight, float eps, float weight_offset) override {
    float* y = ptr(y_ref);
    const float* x = ptr(x_ref);
    const float* g = f32_vector(weight, 0, weight_offset);
    pool_.parallel_for(n, [&](int64_t t, int) { k_.rms_norm_row(x + t * dim, g, dim, eps, y + t * dim); });
  }

  void matmul(BufferRef y_ref, BufferRef x_ref, int n, const Tensor& w, const Tensor* bias, int64_t y_stride) override {
    const Product p{y_ref, &w, bias, y_stride};
    matmuls(std::span<const Product>(&p, 1), x_ref, n);
  }

  // The products of one input in one pass of the threads: x quantized once (where a product is
  // block-quantized), then every product's tasks taken from one list, so the threads meet at one
  // barrier instead of one per product (decode of a small model runs hundreds of products a
  // token). Each task computes what matmul's does: the same bits.
  void matmuls(std::span<const Product> products, BufferRef x_ref, int n) override {
    for (size_t first = 0; first < products.size(); first += kMaxProducts) {
      const size_t count = std::min(products.size() - first, kMaxProducts);
      std::array<ProductPlan, kMaxProducts> plans;
      std::array<int64_t, kMaxProducts + 1> task_start{};
      bool quantize = false;
      for (size_t i = 0; i < count; ++i) {
        const Product& pr = products[first + i];
        if (pr.w->cols() != products[first].w->cols())
          throw Error(ErrorCode::kInternal, "cpu backend: products of one input with rows of " + std::to_string(pr.w->cols()) + " and " +
                                                std::to_string(products[first].w->cols()) + " values");
        plans[i] = plan(ptr(pr.y), ptr(x_ref), n, *pr.w, pr.bias, pr.y_stride, 1 + static_cast<int>(i));
        quantize = quantize || plans[i].path == Path::kInt8;
        task_start[i + 1] = task_start[i] + plans[i].tasks;
      }
      if (quantize) quantize_activations(ptr(x_ref), n, products[first].w->cols());
      pool_.parallel_for(task_start[count], [&](int64_t task, int thread) {
        size_t i = 0;
        while (task >= task_start[i + 1]) ++i;
        run_task(plans[i], task - task_start[i], thread);
      });
    }
  }

 private:
  // How a product is computed: block-quantized weights by the integer kernels, F16 / BF16 / F32
  // packed at load by the float panel kernel, other float rows by the tiled kernels.
  enum class Path { kInt8, kPackedFloat, kFloat };
  // One product cut into tasks, each over a contiguous span of weight rows (long sequential
  // reads keep the hardware prefetchers streaming; whole kRowBlocks, so whole packed groups).
  struct ProductPlan {
    Path path = Path::kFloat;
    float* y = nullptr;
    const float* x = nullptr;
    const float* b = nullptr;  // the bias as float, or none
    const Tensor* w = nullptr;
    int n = 0;
    int64_t y_stride = 0, span = 0, tasks = 0;
    int64_t group_bytes = 0;  // a packed matrix's bytes per row group
    bool q8_q4 = false;       // kInt8: the baseline ISA's Q8_0 and Q4_0 (int8_gemm)
    bool direct = false;      // kFloat: rows read as stored (else converted to F32 scratch first)
  };
  static constexpr size_t kMaxProducts = 3;  // per pass of matmuls (q / k / v): a bias slot each

  // bias_slot: the f32_vector slot its bias is converted into (products computed together use
  // different slots).
  ProductPlan plan(float* y, const float* x, int n, const Tensor& w, const Tensor* bias, int64_t y_stride, int bias_slot) {
    const int64_t rows = w.rows(), cols = w.cols();
    if (cols > max_cols_) throw Error(ErrorCode::kInternal, "cpu backend: scratch not reserved for rows of " + std::to_string(cols));
    ProductPlan p{.y = y, .x = x, .w = &w, .n = n, .y_stride = y_stride == 0 ? rows : y_stride, .span = row_span(rows)};
    p.b = (bias && !bias->empty()) ? f32_vector(*bias, bias_slot) : nullptr;
    p.tasks = (rows + p.span - 1) / p.span;
    if (dtype_info(w.dtype).quantized) {
      if (n > max_rows_) throw Error(ErrorCode::kInternal, "cpu backend: scratch not reserved for " + std::to_string(n) + " rows");
      p.path = Path::kInt8;
      p.q8_q4 = !k_.block_gemm_takes(w.dtype, cols);
      if (w.packed) p.group_bytes = packed_shape(w.dtype, rows, cols, group_rows(w.dtype, cols)).group_bytes();
    } else if (w.packed) {
      p.path = Path::kPackedFloat;
      p.group_bytes = packed_shape(w.dtype, rows, cols, group_rows(w.dtype, cols)).group_bytes();
    } else {
      // With many tokens, F16/BF16 rows are converted once into scratch and reused by every
      // token; with few, the tiled kernel reads them directly. Conversion is exact, so both give
      // the same bits.
      p.direct = w.dtype == DType::F32 || ((w.dtype == DType::F16 || w.dtype == DType::BF16) && n < 8);
    }
    return p;
  }

  // Each activation row quantized to 8-bit blocks once (core/quant.h), for every block-quantized
  // product of it: per-row work only, so results do not depend on how many rows are in the batch.
  void quantize_activations(const float* x, int n, int64_t cols) {
    pool_.parallel_for(n, [&](int64_t t, int) { k_.quantize_act_q8(x + t * cols, cols, act_.row(t, cols)); });
  }

  // Task `task` of a product: its span of rows.
  void run_task(const ProductPlan& p, int64_t task, int thread) {
    const Tensor& w = *p.w;
    const int64_t rows = w.rows(), cols = w.cols();
    const int64_t r0 = task * p.span, r1 = std::min(rows, r0 + p.span);
    float* y = p.y;
    const float* x = p.x;
    switch (p.path) {
      case Path::kInt8: {  // every output an integer dot product per block (core/quant.h)
        const auto row_bytes = static_cast<int64_t>(w.row_bytes());
        uint8_t* panel = reinterpret_cast<uint8_t*>(panels_.data() + thread * (block_panel_bytes(max_cols_) / 64));
        if (w.packed)  // r0: a whole number of groups (row_span)
          k_.packed_gemm(static_cast<const uint8_t*>(w.data) + r0 / k_.panel_rows * p.group_bytes, w.dtype, static_cast<int>(r1 - r0),
                         act_.row(0, cols), p.n, cols, y + r0, p.y_stride, panel);
        else if (p.q8_q4)
          k_.int8_gemm(w.row_ptr(r0), w.dtype, row_bytes, static_cast<int>(r1 - r0), act_.row(0, cols), p.n, cols, y + r0, p.y_stride);
        else
          k_.block_gemm(w.row_ptr(r0), w.dtype, row_bytes, static_cast<int>(r1 - r0), act_.row(0, cols), p.n, cols, y + r0, p.y_stride,
                        panel);
        break;
      }
      case Path::kPackedFloat:  // the outer-product kernel (kernels_float_panel.inc) over whole groups
        k_.packed_float_gemm(x, cols, p.n, static_cast<const uint8_t*>(w.data) + r0 / group_rows(w.dtype, cols) * p.group_bytes, w.dtype,
                             static_cast<int>(r1 - r0), cols, y + r0, p.y_stride);
        break;
      case Path::kFloat:  // kRowBlock rows at a time
        for (int64_t b0 = r0; b0 < r1; b0 += kRowBlock) {
          const int64_t b1 = std::min(r1, b0 + kRowBlock);
          if (!p.direct) {
            float* s = weight_scratch_.data() + static_cast<size_t>(thread) * kRowBlock * max_cols_;
            to_f32(w, b0, b1 - b0, s);
            k_.gemm(x, cols, p.n, s, DType::F32, cols, static_cast<int>(b1 - b0), cols, y + b0, p.y_stride);
          } else {
            k_.gemm(x, cols, p.n, w.row_ptr(b0), w.dtype, cols, static_cast<int>(b1 - b0), cols, y + b0, p.y_stride);
          }
        }
        break;
    }
    add_bias(y, p.n, p.y_stride, p.b, r0, r1);
  }

 public:
  // y[t, r] += b[r] for the n rows of y and columns [r0, r1); nothing without a bias.
  static void add_bias(float* y, int n, int64_t y_stride, const float* b, int64_t r0, int64_t r1) {
    if (!b) return;
    for (int t = 0; t < n; ++t)
      for (int64_t r = r0; r < r1; ++r) y[t * y_stride + r] += b[r];
  }

  // Rows per task: about 8 tasks per thread (for balance), whole kRowBlocks, at least one.
  int64_t row_span(int64_t rows) const {
    const int64_t span = std::max<int64_t>(kRowBlock, rows / (8 * pool_.size()));
    return (span + kRowBlock - 1) / kRowBlock * kRowBlock;
  }

  void rope(BufferRef x_ref, int n, int n_heads, int head_dim, int rotary_dim, int64_t row_stride, BufferRef cos_ref,
            BufferRef sin_ref) override {
    float* x = ptr(x_ref);
    const float *cos = ptr(cos_ref), *sin = ptr(sin_ref);
    const int half = rotary_dim / 2;
    pool_.parallel_for(
        n, [&](int64_t t, int) { k_.rope_row(x + t * row_stride, n_heads, head_dim, rotary_dim, cos + t * half, sin + t * half); });
  }

  // Attention by tiles (CpuKernels::attend_tile): runs of consecutive tokens of one sequence
  // cut into tiles, each tile's queries being its tokens x the query heads of one KV head (a GQA
  // group), so a key / value row is read once per tile. When that leaves threads idle (decode
  // of few sequences), the groups are split. A query's output does not depend on its tile.
  void attention(const AttentionArgs& a) override {
    const int32_t* positions = ptr<const int32_t>(a.positions);
    const int32_t* seq = ptr<const int32_t>(a.seq);
    const int32_t* tables = ptr<const int32_t>(a.block_tables);
    const float* q_all = ptr(a.q);
    float* out = ptr(a.out);
    for (int t = 0; t < a.n_tokens; ++t)
      if (positions[t] + 1 > max_ctx_) throw Error(ErrorCode::kInternal, "cpu backend: attention span beyond reserved context");
    if (a.n_tokens > max_rows_) throw Error(ErrorCode::kInternal, "cpu backend: attention over more tokens than reserved");
    const int group = a.n_heads / a.n_kv_heads;
    // Queries per tile: what the per-thread scratch holds, up to kTileQueries.
    const int64_t base = k_.attention_scratch(a.head_dim, 0), per_query = k_.attention_scratch(a.head_dim, 1) - base;
    const int max_queries = static_cast<int>(std::min<int64_t>(kTileQueries, (kAttentionScratch - base) / per_query));
    if (max_queries < 1) throw Error(ErrorCode::kUnsupported, "cpu backend: head_dim " + std::to_string(a.head_dim) + " is too wide");
    const int tile_tokens = std::max(1, max_queries / group);
    int n_tiles = 0;
    for (int t = 0; t < a.n_tokens;) {
      int e = t + 1;
      while (e < a.n_tokens && e - t < tile_tokens && seq[e] == seq[t]) ++e;
      tile_start_[static_cast<size_t>(n_tiles++)] = t;
      t = e;
    }
    tile_start_[static_cast<size_t>(n_tiles)] = a.n_tokens;
    const int64_t whole_groups = static_cast<int64_t>(n_tiles) * a.n_kv_heads;
    const int parts = static_cast<int>(std::min<int64_t>(group, (pool_.size() + whole_groups - 1) / whole_groups));
    const int part_heads = std::min((group + parts - 1) / parts, max_queries);  // query heads per tile
    const int group_parts = (group + part_heads - 1) / part_heads;
    const int64_t q_stride = static_cast<int64_t>(a.n_heads) * a.head_dim;
    const KvLayout layout = a.kv_layout();
    const KvHeadRows head_rows{.block_size = a.block_size, .row_stride = a.head_dim, .block_stride = layout.block_values()};
    const size_t elem = a.kv_dtype == DType::F16 ? 2 : 4;
    pool_.parallel_for(whole_groups * group_parts, [&](int64_t task, int thread) {
      // The last tiles first: causal attention gives them the most keys.
      const int tile = n_tiles - 1 - static_cast<int>(task / (a.n_kv_heads * group_parts));
      const int kv_head = static_cast<int>(task / group_parts % a.n_kv_heads);
      const int h0 = kv_head * group + static_cast<int>(task % group_parts) * part_heads;
      const int h1 = std::min(h0 + part_heads, (kv_head + 1) * group);
      const int t0 = tile_start_[static_cast<size_t>(tile)], t1 = tile_start_[static_cast<size_t>(tile) + 1];
      TileQueries& tq = tile_queries_[static_cast<size_t>(thread)];
      int n = 0;
      for (int t = t0; t < t1; ++t)
        for (int h = h0; h < h1; ++h, ++n) {
          tq.q[n] = q_all + t * q_stride + h * a.head_dim;
          tq.out[n] = out + t * q_stride + h * a.head_dim;
          tq.pos[n] = positions[t];
          tq.lo[n] = a.window > 0 ? std::max(0, positions[t] - a.window + 1) : 0;
        }
      const int64_t kv_off = layout.offset(0, kv_head) * static_cast<int64_t>(elem);  // bytes to the head's rows of block 0
      k_.attend_tile(
          AttentionTile{.q = tq.q.data(), .out = tq.out.data(), .lo = tq.lo.data(), .pos = tq.pos.data(), .n = n, .heads_per_kv = group},
          ptr<const uint8_t>(a.k_cache) + kv_off, ptr<const uint8_t>(a.v_cache) + kv_off, a.kv_dtype,
          tables + static_cast<int64_t>(seq[t0]) * a.table_stride, head_rows, a.head_dim, a.scale, a.softcap,
          attention_scratch_.data() + static_cast<size_t>(thread) * kAttentionScratch);
    });
  }

  void store_kv(BufferRef cache_ref, DType dt, const KvLayout& layout, BufferRef slots_ref, BufferRef src_ref, int n) override {
    void* cache = ptr<void>(cache_ref);
    const int64_t* slots = ptr<const int64_t>(slots_ref);
    const float* src = ptr(src_ref);
    const int64_t width = static_cast<int64_t>(layout.n_kv_heads) * layout.head_dim;
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < layout.n_kv_heads; ++h) {
        const float* row = src + t * width + static_cast<int64_t>(h) * layout.head_dim;
        const int64_t at = layout.offset(slots[t], h);
        if (dt == DType::F16)
          k_.f32_to_f16(row, static_cast<uint16_t*>(cache) + at, layout.head_dim);
        else
          std::memcpy(static_cast<float*>(cache) + at, row, static_cast<size_t>(layout.head_dim) * sizeof(float));
      }
  }

  void gather_rows(BufferRef dst_ref, BufferRef src_ref, BufferRef rows_ref, int n, int64_t width) override {
    float* dst = ptr(dst_ref);
    const float* src = ptr(src_ref);
    const int32_t* rows = ptr<const int32_t>(rows_ref);
    for (int t = 0; t < n; ++t)
      std::memcpy(dst + t * width, src + static_cast<int64_t>(rows[t]) * width, static_cast<size_t>(width) * sizeof(float));
  }

  // One activation, in float: what each elementwise op below computes per value.
  static float activate(float x, Activation act) {
    switch (act) {
      case Activation::kSilu: return x / (1.0f + std::exp(-x));
      case Activation::kRelu: return x > 0.0f ? x : 0.0f;
      case Activation::kGelu: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
      case Activation::kGeluTanh:  // torch's gelu(approximate="tanh"): sqrt(2/pi) = 0.7978845608...
        return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    }
    return x;
  }

  void gated_activation(BufferRef gate_ref, BufferRef up_ref, int64_t count, Activation act) override {
    float* gate = ptr(gate_ref);
    const float* up = ptr(up_ref);
    chunked(count, [&](int64_t b, int64_t e) {
      if (act == Activation::kSilu) return k_.silu_mul(gate + b, up + b, e - b);  // SwiGLU, the common case
      for (int64_t i = b; i < e; ++i) gate[i] = activate(gate[i], act) * up[i];
    });
  }

  void add(BufferRef y_ref, BufferRef x_ref, int64_t count) override {
    float* y = ptr(y_ref);
    const float* x = ptr(x_ref);
    chunked(count, [&](int64_t b, int64_t e) { k_.add(y + b, x + b, e - b); });
  }

  void scale(BufferRef x_ref, int64_t count, float factor) override {
    float* x = ptr(x_ref);
    chunked(count, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] *= factor;
    });
  }

  void softcap(BufferRef x_ref, int64_t count, float cap) override {
    float* x = ptr(x_ref);
    chunked(count, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] = cap * std::tanh(x[i] / cap);
    });
  }

  void activation(BufferRef x_ref, int64_t count, Activation act) override {
    float* x = ptr(x_ref);
    chunked(count, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] = activate(x[i], act);
    });
  }

  void layer_norm(BufferRef y_ref, BufferRef x_ref, int n, int dim, const Tensor& weight, const Tensor* bias, float eps) override {
    float* y = ptr(y_ref);
    const float* x = ptr(x_ref);
    const float* g = f32_vector(weight, 0);
    const float* bb = bias ? f32_vector(*bias, 1) : nullptr;
    pool_.parallel_for(n, [&](int64_t t, int) {
      const float* xr = x + t * dim;
      float* yr = y + t * dim;
      // Two passes in float, as torch.nn.LayerNorm on CPU: the mean, then the biased variance.
      float mean = 0;
      for (int i = 0; i < dim; ++i) mean += xr[i];
      mean /= static_cast<float>(dim);
      float var = 0;
      for (int i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= static_cast<float>(dim);
      const float inv = 1.0f / std::sqrt(var + eps);
      for (int i = 0; i < dim; ++i) yr[i] = (xr[i] - mean) * inv * g[i] + (bb ? bb[i] : 0.0f);
    });
  }

 private:
  template <typename Fn>
  void chunked(int64_t count, Fn&& fn) {
    constexpr int64_t kChunk = 1 << 14;
    pool_.parallel_for((count + kChunk - 1) / kChunk, [&](int64_t c, int) { fn(c * kChunk, std::min(count, (c + 1) * kChunk)); });
  }

  // Rows [r0, r0+count) of w as float into dst.
  void to_f32(const Tensor& w, int64_t r0, int64_t count, float* dst) const {
    if (w.packed) throw Error(ErrorCode::kInternal, "cpu backend: rows of a packed matrix read as rows");
    const int64_t n = w.cols() * count;
    const void* src = w.row_ptr(r0);
    switch (w.dtype) {
      case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
      case DType::F16: k_.f16_to_f32(static_cast<const uint16_t*>(src), dst, n); return;
      case DType::BF16: k_.bf16_to_f32(static_cast<const uint16_t*>(src), dst, n); return;
      default:  // block-quantized: the scalar dequantizer, row by row
        for (int64_t i = 0; i < count; ++i) dequantize_row(w.dtype, w.row_ptr(r0 + i), dst + i * w.cols(), w.cols());
        return;
    }
  }

  // Small vectors (norm weights, biases) as float, plus `offset` on every value. F32 ones
  // without an offset are used in place; others are converted into one of two slots (so a norm
  // weight and a bias can be live together).
  const float* f32_vector(const Tensor& v, int slot, float offset = 0) {
    if (v.dtype == DType::F32 && offset == 0) return static_cast<const float*>(v.data);
    auto& buf = vector_scratch_[slot];
    const int64_t n = v.numel();
    if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));  // grows once, at the first pass
    to_f32(v, 0, 1, buf.data());
    if (offset != 0)
      for (int64_t i = 0; i < n; ++i) buf[static_cast<size_t>(i)] += offset;
    return buf.data();
  }

  ThreadPool pool_;
  CpuIsa isa_;
  const CpuKernels& k_;
  int64_t max_cols_ = 0;
  int64_t max_ctx_ = 0;
  int64_t max_rows_ = 0;
  ActQ8Rows act_;  // [max_rows][max_cols] activations quantized to 8 bits, with block scales and sums
  struct alignas(64) Line {
    uint8_t bytes[64];
  };
  std::vector<Line> panels_;           // [threads][block_panel_bytes(max_cols)] decoded weight panels (block_gemm)
  std::vector<float> weight_scratch_;  // [threads][kRowBlock][max_cols] F16 / BF16 rows converted for many tokens
  // Attention (attend_tile): per thread, a tile's queries and the kernel's scratch (sized to sit
  // in L2: 256 KB); the tiles of one call.
  static constexpr int kTileQueries = 128;
  static constexpr int64_t kAttentionScratch = 64 * 1024;  // floats
  struct TileQueries {
    std::array<const float*, kTileQueries> q;
    std::array<float*, kTileQueries> out;
    std::array<int32_t, kTileQueries> lo, pos;
  };
  std::vector<float> attention_scratch_;   // [threads][kAttentionScratch]
  std::vector<TileQueries> tile_queries_;  // [threads]
  std::vector<int> tile_start_;            // [max_rows + 1]
  std::vector<float> vector_scratch_[1 + kMaxProducts];
  bool repack_ = false;                                      // pack matrices at placement (WICK_REPACK)
  bool decodes_ = true;                                      // set_decodes: false packs no block-quantized matrix
  std::vector<std::shared_ptr<const PackedMatrix>> packed_;  // what place_weight packed (shared)
  std::vector<uint8_t> row_bytes_;                           // a packed table's row (embed)
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) { return std::make_unique<CpuBackend>(n_threads, default_cpu_isa()); }

std::unique_ptr<Backend> make_cpu_backend_for_isa(int n_threads, CpuIsa isa) { return std::make_unique<CpuBackend>(n_threads, isa); }

}  // namespace wick
