// Scalar reference kernels: the obvious loops, accumulating in double. Slow and simple on
// purpose, so that every optimized kernel has something trustworthy to be compared with.
//
// Its memory is an Arena (backends/cpu/arena.h): addresses that fault when dereferenced
// outside this file, and a bounds check on every array an op touches. A model run on this
// backend (device "reference") therefore proves that the transformer, the KV cache and the
// engine reach the backend's memory only through the Backend interface.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/arena.h"
#include "core/quant.h"
#include "wick/error.h"

namespace wick {
namespace {

float weight_at(const Tensor& w, int64_t r, int64_t c) {
  const uint8_t* row = w.row_ptr(r);
  switch (w.dtype) {
    case DType::F32: {
      float v;
      std::memcpy(&v, row + c * 4, 4);
      return v;
    }
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, row + c * 2, 2);
      return f16_to_f32(h);
    }
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, row + c * 2, 2);
      return bf16_to_f32(h);
    }
    default: throw Error(ErrorCode::kUnsupported, std::string("reference backend: dtype ") + dtype_name(w.dtype));
  }
}

float vector_at(const Tensor& v, int64_t i) { return weight_at(v, 0, i); }

class ReferenceBackend final : public Backend {
 public:
  std::string name() const override { return "reference"; }

  BufferRef alloc(size_t bytes, BufferAccess) override { return arena_.alloc(bytes); }
  void free(BufferRef buffer) override { arena_.free(buffer); }
  void upload(BufferRef dst, const void* src, size_t bytes) override { std::memcpy(arena_.at<uint8_t>(dst, bytes), src, bytes); }
  void download(void* dst, BufferRef src, size_t bytes) const override { std::memcpy(dst, arena_.at<uint8_t>(src, bytes), bytes); }
  void copy(BufferRef dst, BufferRef src, size_t bytes) override {
    std::memcpy(arena_.at<uint8_t>(dst, bytes), arena_.at<uint8_t>(src, bytes), bytes);
  }

  void embed(BufferRef y_ref, const Tensor& placed, BufferRef ids_ref, int n) override {
    const Tensor table = arena_.host_view(placed);
    float* y = arena_.at<float>(y_ref, static_cast<size_t>(n) * table.cols());
    const int32_t* ids = arena_.at<int32_t>(ids_ref, n);
    for (int t = 0; t < n; ++t)
      if (ids[t] < 0 || ids[t] >= table.rows())
        throw Error(ErrorCode::kInternal, "reference backend: embed of row " + std::to_string(ids[t]));
    for (int t = 0; t < n; ++t) dequantize_row(table.dtype, table.row_ptr(ids[t]), y + t * table.cols(), table.cols());
  }

  void rms_norm(BufferRef y_ref, BufferRef x_ref, int n, int dim, const Tensor& placed, float eps, float weight_offset) override {
    const Tensor weight = arena_.host_view(placed);
    const size_t count = static_cast<size_t>(n) * dim;
    const float* x = arena_.at<float>(x_ref, count);
    float* y = arena_.at<float>(y_ref, count);
    for (int t = 0; t < n; ++t) {
      const float* xr = x + static_cast<int64_t>(t) * dim;
      double ss = 0;
      for (int i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const double inv = 1.0 / std::sqrt(ss / dim + eps);
      for (int i = 0; i < dim; ++i)
        y[static_cast<int64_t>(t) * dim + i] = static_cast<float>(xr[i] * inv * (weight_offset + vector_at(weight, i)));
    }
  }

  void matmul(BufferRef y_ref, BufferRef x_ref, int n, const Tensor& placed, const Tensor* placed_bias, int64_t y_stride) override {
    const Tensor w = arena_.host_view(placed);
    const Tensor b = placed_bias ? arena_.host_view(*placed_bias) : Tensor{};
    const Tensor* bias = placed_bias ? &b : nullptr;
    const int64_t rows = w.rows(), cols = w.cols();
    if (y_stride == 0) y_stride = rows;
    const float* x = arena_.at<float>(x_ref, static_cast<size_t>(n * cols));
    float* y = arena_.at<float>(y_ref, static_cast<size_t>(n > 0 ? (n - 1) * y_stride + rows : 0));
    std::vector<float> row(static_cast<size_t>(cols));  // weight row r as float (any dtype)
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(w.dtype, w.row_ptr(r), row.data(), cols);
      for (int t = 0; t < n; ++t) {
        double s = 0;
        for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(x[t * cols + c]) * row[static_cast<size_t>(c)];
        if (bias && !bias->empty()) s += vector_at(*bias, r);
        y[t * y_stride + r] = static_cast<float>(s);
      }
    }
  }

  void rope(BufferRef x_ref, int n, int n_heads, int head_dim, int rotary_dim, int64_t row_stride, BufferRef cos_ref,
            BufferRef sin_ref) override {
    const int half = rotary_dim / 2;
    float* x = arena_.at<float>(x_ref, static_cast<size_t>(n * row_stride));
    const float* cos = arena_.at<float>(cos_ref, static_cast<size_t>(n) * half);
    const float* sin = arena_.at<float>(sin_ref, static_cast<size_t>(n) * half);
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + t * row_stride + h * head_dim;
        for (int i = 0; i < half; ++i) {
          const float c = cos[t * half + i], s = sin[t * half + i];
          const float a = v[i], b = v[i + half];
          v[i] = a * c - b * s;
          v[i + half] = b * c + a * s;
        }
      }
  }

  void attention(const AttentionArgs& a) override {
    const int group = a.n_heads / a.n_kv_heads;
    const int64_t q_stride = static_cast<int64_t>(a.n_heads) * a.head_dim;
    const KvLayout layout = a.kv_layout();
    const size_t elem = a.kv_dtype == DType::F16 ? 2 : 4;
    const size_t q_count = static_cast<size_t>(a.n_tokens * q_stride);
    const float* q_all = arena_.at<float>(a.q, q_count);
    float* out = arena_.at<float>(a.out, q_count);
    const int32_t* positions = arena_.at<int32_t>(a.positions, a.n_tokens);
    const int32_t* seq = arena_.at<int32_t>(a.seq, a.n_tokens);
    std::vector<double> p;
    for (int t = 0; t < a.n_tokens; ++t) {
      const int pos = positions[t];
      const int lo = a.window > 0 ? std::max(0, pos - a.window + 1) : 0;
      if (pos / a.block_size >= a.table_stride) throw Error(ErrorCode::kInternal, "reference backend: position beyond its block table");
      const BufferRef table_ref = a.block_tables.at<int32_t>(static_cast<int64_t>(seq[t]) * a.table_stride);
      const int32_t* table = arena_.at<int32_t>(table_ref, pos / a.block_size + 1);
      auto slot = [&](int j) {  // this query's sequence, position j -> slot of the block pool
        return static_cast<int64_t>(table[j / a.block_size]) * a.block_size + j % a.block_size;
      };
      auto cache_row = [&](BufferRef cache, int j, int kvh) {  // KV head kvh's row of position j, bounds-checked
        return arena_.at<uint8_t>(cache + layout.offset(slot(j), kvh) * static_cast<int64_t>(elem), a.head_dim * elem);
      };
      for (int h = 0; h < a.n_heads; ++h) {
        const float* q = q_all + t * q_stride + h * a.head_dim;
        const int kvh = h / group;
        p.assign(static_cast<size_t>(pos - lo + 1), 0.0);
        double mx = -INFINITY;
        for (int j = lo; j <= pos; ++j) {
          const uint8_t* k = cache_row(a.k_cache, j, kvh);
          double s = 0;
          for (int i = 0; i < a.head_dim; ++i) s += static_cast<double>(q[i]) * cache_value(k, a.kv_dtype, i);
          s *= a.scale;
          if (a.softcap > 0) s = a.softcap * std::tanh(s / a.softcap);
          p[static_cast<size_t>(j - lo)] = s;
          mx = std::max(mx, s);
        }
        double sum = 0;
        for (auto& v : p) sum += (v = std::exp(v - mx));
        float* o = out + t * q_stride + h * a.head_dim;
        for (int i = 0; i < a.head_dim; ++i) {
          double acc = 0;
          for (int j = lo; j <= pos; ++j) acc += p[static_cast<size_t>(j - lo)] * cache_value(cache_row(a.v_cache, j, kvh), a.kv_dtype, i);
          o[i] = static_cast<float>(acc / sum);
        }
      }
    }
  }

  static double cache_value(const uint8_t* row, DType dt, int64_t i) {
    if (dt == DType::F16) {
      uint16_t h;
      std::memcpy(&h, row + i * 2, 2);
      return f16_to_f32(h);
    }
    float v;
    std::memcpy(&v, row + i * 4, 4);
    return v;
  }

  void store_kv(BufferRef cache, DType dt, const KvLayout& layout, BufferRef slots_ref, BufferRef src_ref, int n) override {
    const int64_t* slots = arena_.at<int64_t>(slots_ref, n);
    const int64_t width = static_cast<int64_t>(layout.n_kv_heads) * layout.head_dim;
    const float* src = arena_.at<float>(src_ref, static_cast<size_t>(n * width));
    const size_t elem = dt == DType::F16 ? 2 : 4;
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < layout.n_kv_heads; ++h) {
        uint8_t* d = arena_.at<uint8_t>(cache + layout.offset(slots[t], h) * static_cast<int64_t>(elem), layout.head_dim * elem);
        for (int64_t c = 0; c < layout.head_dim; ++c) {
          const float v = src[t * width + h * layout.head_dim + c];
          if (dt == DType::F16) {
            const uint16_t half = f32_to_f16(v);
            std::memcpy(d + c * 2, &half, 2);
          } else {
            std::memcpy(d + c * 4, &v, 4);
          }
        }
      }
  }

  void gather_rows(BufferRef dst_ref, BufferRef src, BufferRef rows_ref, int n, int64_t width) override {
    const int32_t* rows = arena_.at<int32_t>(rows_ref, n);
    float* dst = arena_.at<float>(dst_ref, static_cast<size_t>(n * width));
    for (int t = 0; t < n; ++t) {
      const float* s = arena_.at<float>(src.at<float>(static_cast<int64_t>(rows[t]) * width), width);
      for (int64_t c = 0; c < width; ++c) dst[t * width + c] = s[c];
    }
  }

  static double activate(double v, Activation act) {
    switch (act) {
      case Activation::kSilu: return v / (1.0 + std::exp(-v));
      case Activation::kRelu: return v > 0 ? v : 0.0;
      case Activation::kGelu: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
      case Activation::kGeluTanh: return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    }
    return v;
  }

  void gated_activation(BufferRef gate_ref, BufferRef up_ref, int64_t count, Activation act) override {
    float* gate = arena_.at<float>(gate_ref, count);
    const float* up = arena_.at<float>(up_ref, count);
    for (int64_t i = 0; i < count; ++i) gate[i] = static_cast<float>(activate(gate[i], act) * up[i]);
  }

  void add(BufferRef y_ref, BufferRef x_ref, int64_t count) override {
    float* y = arena_.at<float>(y_ref, count);
    const float* x = arena_.at<float>(x_ref, count);
    for (int64_t i = 0; i < count; ++i) y[i] += x[i];
  }

  void scale(BufferRef x_ref, int64_t count, float factor) override {
    float* x = arena_.at<float>(x_ref, count);
    for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) * factor);
  }

  void softcap(BufferRef x_ref, int64_t count, float cap) override {
    float* x = arena_.at<float>(x_ref, count);
    for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(cap * std::tanh(static_cast<double>(x[i]) / cap));
  }

  void activation(BufferRef x_ref, int64_t count, Activation act) override {
    float* x = arena_.at<float>(x_ref, count);
    for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(activate(x[i], act));
  }

  void layer_norm(BufferRef y_ref, BufferRef x_ref, int n, int dim, const Tensor& placed, const Tensor* placed_bias, float eps) override {
    const Tensor weight = arena_.host_view(placed);
    const Tensor b = placed_bias ? arena_.host_view(*placed_bias) : Tensor{};
    const Tensor* bias = placed_bias ? &b : nullptr;
    const float* x = arena_.at<float>(x_ref, static_cast<size_t>(n) * dim);
    float* y = arena_.at<float>(y_ref, static_cast<size_t>(n) * dim);
    for (int t = 0; t < n; ++t) {
      const float* xr = x + static_cast<int64_t>(t) * dim;
      double mean = 0, var = 0;
      for (int i = 0; i < dim; ++i) mean += xr[i];
      mean /= dim;
      for (int i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
      var /= dim;
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int i = 0; i < dim; ++i)
        y[static_cast<int64_t>(t) * dim + i] =
            static_cast<float>((xr[i] - mean) * inv * vector_at(weight, i) + (bias ? vector_at(*bias, i) : 0.0));
    }
  }

 private:
  Arena arena_;
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace wick
