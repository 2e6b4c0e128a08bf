// A non-owning view of a weight tensor: dtype, shape and a pointer into memory that someone
// else owns (a memory-mapped file, an arena, later a device buffer).
//
// Shapes follow PyTorch / safetensors order: a Linear weight is [out_features, in_features],
// stored row-major, so row r holds the weights of output r.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace wick {

struct Tensor {
  DType dtype = DType::F32;
  int ndim = 0;
  std::array<int64_t, 4> shape{0, 0, 0, 0};
  const void* data = nullptr;
  // A matrix the backend that placed it repacked for its kernels (the CPU's panel layout,
  // backends/cpu/packed_weights.h): data is then not rows, and only that backend reads it.
  bool packed = false;

  bool empty() const { return data == nullptr; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return ndim == 0 ? 0 : n;
  }
  // For a 2-D weight: rows = out_features, cols = in_features. A 1-D tensor is one row.
  int64_t rows() const { return ndim >= 2 ? shape[0] : 1; }
  int64_t cols() const { return ndim >= 2 ? shape[1] : shape[0]; }
  uint64_t row_bytes() const { return dtype_row_bytes(dtype, static_cast<uint64_t>(cols())); }
  uint64_t nbytes() const { return dtype_row_bytes(dtype, static_cast<uint64_t>(numel())); }
  const uint8_t* row_ptr(int64_t r) const { return static_cast<const uint8_t*>(data) + static_cast<uint64_t>(r) * row_bytes(); }
  // Rows [begin, begin+count) of a 2-D tensor as a tensor of its own (no copy). Used to split
  // fused projections (Phi-3's qkv_proj / gate_up_proj) into their parts.
  Tensor row_slice(int64_t begin, int64_t count) const {
    Tensor t = *this;
    t.shape[0] = count;
    t.data = row_ptr(begin);
    return t;
  }
  // Elements [begin, begin+count) of a 1-D tensor (a fused bias).
  Tensor vector_slice(int64_t begin, int64_t count) const {
    Tensor t = *this;
    t.shape[0] = count;
    t.data = static_cast<const uint8_t*>(data) + dtype_row_bytes(dtype, static_cast<uint64_t>(begin));
    return t;
  }
};

std::string shape_string(const Tensor& t);
std::string shape_string(const int64_t* dims, int ndim);

}  // namespace wick
