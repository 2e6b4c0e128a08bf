// Scalar reference kernels: the obvious loops, accumulating in double. Slow and simple on
// purpose, so that every optimized kernel has something trustworthy to be compared with.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/backend.h"
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

  void embed(float* y, const Tensor& table, const int32_t* ids, int n) override {
    for (int t = 0; t < n; ++t) dequantize_row(table.dtype, table.row_ptr(ids[t]), y + t * table.cols(), table.cols());
  }

  void rms_norm(float* y, const float* x, int n, int dim, const Tensor& weight, float eps) override {
    for (int t = 0; t < n; ++t) {
      const float* xr = x + static_cast<int64_t>(t) * dim;
      double ss = 0;
      for (int i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const double inv = 1.0 / std::sqrt(ss / dim + eps);
      for (int i = 0; i < dim; ++i) y[static_cast<int64_t>(t) * dim + i] = static_cast<float>(xr[i] * inv * vector_at(weight, i));
    }
  }

  void matmul(float* y, const float* x, int n, const Tensor& w, const Tensor* bias, int64_t y_stride) override {
    const int64_t rows = w.rows(), cols = w.cols();
    if (y_stride == 0) y_stride = rows;
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

  void rope(float* x, int n, int n_heads, int head_dim, int64_t row_stride, const float* cos, const float* sin) override {
    const int half = head_dim / 2;
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
    const int64_t kv_stride = static_cast<int64_t>(a.n_kv_heads) * a.head_dim;
    std::vector<double> p;
    for (int t = 0; t < a.n_tokens; ++t) {
      const int pos = a.positions[t];
      const int lo = a.window > 0 ? std::max(0, pos - a.window + 1) : 0;
      auto row = [&](int j) {  // this query's sequence, position j -> row of the block pool
        return static_cast<int64_t>(a.block_tables[t][j / a.block_size]) * a.block_size + j % a.block_size;
      };
      for (int h = 0; h < a.n_heads; ++h) {
        const float* q = a.q + t * q_stride + h * a.head_dim;
        const int kvh = h / group;
        p.assign(static_cast<size_t>(pos - lo + 1), 0.0);
        double mx = -INFINITY;
        for (int j = lo; j <= pos; ++j) {
          const int64_t k = row(j) * kv_stride + kvh * a.head_dim;
          double s = 0;
          for (int i = 0; i < a.head_dim; ++i) s += static_cast<double>(q[i]) * cache_value(a.k_cache, a.kv_dtype, k + i);
          s *= a.scale;
          p[static_cast<size_t>(j - lo)] = s;
          mx = std::max(mx, s);
        }
        double sum = 0;
        for (auto& v : p) sum += (v = std::exp(v - mx));
        float* o = a.out + t * q_stride + h * a.head_dim;
        for (int i = 0; i < a.head_dim; ++i) {
          double acc = 0;
          for (int j = lo; j <= pos; ++j)
            acc += p[static_cast<size_t>(j - lo)] * cache_value(a.v_cache, a.kv_dtype, row(j) * kv_stride + kvh * a.head_dim + i);
          o[i] = static_cast<float>(acc / sum);
        }
      }
    }
  }

  static double cache_value(const void* cache, DType dt, int64_t i) {
    if (dt == DType::F16) return f16_to_f32(static_cast<const uint16_t*>(cache)[i]);
    return static_cast<const float*>(cache)[i];
  }

  void scatter_rows(void* dst, DType dt, const int64_t* rows, const float* src, int n, int64_t width) override {
    for (int t = 0; t < n; ++t)
      for (int64_t c = 0; c < width; ++c) {
        const float v = src[t * width + c];
        if (dt == DType::F16)
          static_cast<uint16_t*>(dst)[rows[t] * width + c] = f32_to_f16(v);
        else
          static_cast<float*>(dst)[rows[t] * width + c] = v;
      }
  }

  void gather_rows(float* dst, const float* src, const int32_t* rows, int n, int64_t width) override {
    for (int t = 0; t < n; ++t)
      for (int64_t c = 0; c < width; ++c) dst[t * width + c] = src[static_cast<int64_t>(rows[t]) * width + c];
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

  void gated_activation(float* gate, const float* up, int64_t count, Activation act) override {
    for (int64_t i = 0; i < count; ++i) gate[i] = static_cast<float>(activate(gate[i], act) * up[i]);
  }

  void add(float* y, const float* x, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) y[i] += x[i];
  }

  void activation(float* x, int64_t count, Activation act) override {
    for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(activate(x[i], act));
  }

  void layer_norm(float* y, const float* x, int n, int dim, const Tensor& weight, const Tensor* bias, float eps) override {
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
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace wick
