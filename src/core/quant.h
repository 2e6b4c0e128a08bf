// Block-quantized weight formats, bit-compatible with ggml's GGUF layouts (ggml-common.h
// defines the structs; the quantization schemes are described in llama.cpp PR #1684, "k-quants"):
//   Q8_0  32 values: f16 d, int8 q[32]                         x = d * q
//   Q4_0  32 values: f16 d, 16 bytes of nibbles                x = d * (q - 8); byte j holds
//         value j (low nibble) and value j + 16 (high nibble)
//   Q4_K  256 values in 8 sub-blocks of 32: f16 d, f16 dmin, 12 bytes of 6-bit sub-block scales
//         and mins, 128 bytes of nibbles                      x = d * sc_j * q - dmin * m_j
//   Q6_K  256 values in 16 sub-blocks of 16: 128 bytes low nibbles, 64 bytes high 2 bits,
//         int8 scales[16], f16 d                               x = d * sc_j * (q - 32)
// Here: the scalar reference (dequantize, quantize, dot products) every optimized kernel is
// tested against, and the activation format of the integer kernels.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace wick {

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210);

// Row of n values (n a multiple of the type's block size) <-> float.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
void quantize_row(DType t, const float* src, void* dst, int64_t n);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
void q4k_scale_min(const uint8_t* scales, int j, int* sc, int* m);

// Activations for the integer kernels: a row quantized in blocks of 32 with a float scale
// (symmetric, round to nearest): x ~= d[b] * q[32 b + i]; sum[b] = sum of q over the block.
struct ActQ8Row {
  float* d;
  int32_t* sum;
  int8_t* q;
};
void quantize_act_q8_ref(const float* x, int64_t n, ActQ8Row out);

// Reference dot products of one weight row with a quantized activation row (n values):
// exact integer sums per block, then scaled in float, accumulated in double.
float dot_q8_0_act_ref(const BlockQ8_0* w, const ActQ8Row& x, int64_t n);
float dot_q4_0_act_ref(const BlockQ4_0* w, const ActQ8Row& x, int64_t n);

}  // namespace wick
