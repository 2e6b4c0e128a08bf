// Block-quantized weight formats, bit-compatible with ggml's GGUF layouts (ggml-common.h
// defines the structs; the K-quant schemes are described in llama.cpp PR #1684, "k-quants";
// IQ4_NL / IQ4_XS are its non-linear 4-bit grid). 32-value blocks:
//   Q8_0    f16 d, int8 q[32]                                 x = d * q
//   Q4_0    f16 d, 16 bytes of nibbles                        x = d * (q - 8); byte j holds
//           value j (low nibble) and value j + 16 (high nibble), as in every 4-bit type here
//   Q4_1    f16 d, f16 m, nibbles                             x = d * q + m
//   Q5_0    f16 d, 32 high bits, nibbles                      x = d * (q - 16), q = nibble | bit << 4
//   Q5_1    f16 d, f16 m, 32 high bits, nibbles               x = d * q + m
//   IQ4_NL  f16 d, nibbles                                    x = d * kIq4nlValues[q]
// 256-value super-blocks:
//   Q2_K    16 sub-blocks of 16: 4-bit scale and min per sub-block, f16 d, dmin, 2-bit q
//                                                             x = d * sc * q - dmin * m
//   Q3_K    16 sub-blocks of 16: 6-bit scales, f16 d, 2 low bits + 1 high bit (hmask) per value
//                                                             x = d * (sc - 32) * (q - 4)
//   Q4_K    8 sub-blocks of 32: f16 d, f16 dmin, 6-bit scales and mins, nibbles
//                                                             x = d * sc * q - dmin * m
//   Q5_K    as Q4_K plus one high bit per value (qh)          x = d * sc * q - dmin * m
//   Q6_K    16 sub-blocks of 16: 4 low bits (ql), 2 high bits (qh), int8 scales, f16 d
//                                                             x = d * sc * (q - 32)
//   IQ4_XS  8 sub-blocks of 32: f16 d, 6-bit scales (2 high bits in scales_h), nibbles
//                                                             x = d * (ls - 32) * kIq4nlValues[q]
// Every type is seen by the integer kernels as 32-value chunks (WeightChunk): unsigned codes
// with a per-type offset, and a float scale and min per 16-value half. Here: the scalar
// reference (decoding, quantizing, dot products) every optimized kernel is tested against, and
// the activation format of the integer kernels.
#pragma once

#include <cstdint>
#include <vector>

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
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];  // bit j: the fifth bit of value j
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
struct BlockQ2_K {
  uint8_t scales[16];  // low nibble scale, high nibble min, per sub-block of 16
  uint8_t qs[64];      // value 128 h + 32 j + l: bits 2j of qs[32 h + l]
  uint16_t d, dmin;
};
struct BlockQ3_K {
  uint8_t hmask[32];  // bit j of hmask[l]: the high bit of value 32 j + l
  uint8_t qs[64];     // low 2 bits, laid out as Q2_K's
  uint8_t scales[12];
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];  // bit j of qh[l]: the fifth bit of value 32 j + l
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;    // bits 2j: the high 2 bits of sub-block j's scale
  uint8_t scales_l[4];  // nibble j: the low 4 bits of sub-block j's scale
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ5_K) == 176 && sizeof(BlockIQ4_XS) == 136);

// The 16 values of IQ4_NL / IQ4_XS codes (a non-uniform grid fitted to weight distributions).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Row of n values (n a multiple of the type's block size) <-> float.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
void quantize_row(DType t, const float* src, void* dst, int64_t n);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block.
void q4k_scale_min(const uint8_t* scales, int j, int* sc, int* m);
// The 6-bit scale (0..63, used as sc - 32) of sub-block j (0..15) of a Q3_K block.
int q3k_scale(const uint8_t* scales, int j);
// The 6-bit scale (0..63, used as ls - 32) of sub-block j (0..7) of an IQ4_XS block.
inline int iq4xs_scale(const BlockIQ4_XS& b, int j) {
  return ((b.scales_l[j / 2] >> (4 * (j % 2))) & 0x0F) | (((b.scales_h >> (2 * j)) & 3) << 4);
}
// Throws kShapeMismatch unless n values fill whole blocks of t.
void check_whole_blocks(DType t, int64_t n);

// One 32-value chunk of a quantized row, as every integer kernel sees it: value i is
// scale[i / 16] * (u[i] - offset) + min[i / 16], with u[i] in 0..255. Chunk c of a row covers
// values 32 c .. 32 c + 31; a 256-value super-block has 8 chunks.
struct WeightChunk {
  uint8_t u[32];
  float scale[2];
  float min[2];
};
void decode_chunk(DType t, const void* row, int64_t chunk, WeightChunk* out);
// The code offset of a type (a power of two: Q8_0, IQ4_*: 128 (their values are stored as u -
// 128); Q6_K: 32; Q5_0: 16; Q4_0: 8; Q3_K: 4), 0 for types with a min instead.
int chunk_offset(DType t);
// Whether a type's chunks carry mins (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K).
bool chunk_has_min(DType t);

// Activations for the integer kernels: a row quantized in blocks of 32 with a float scale
// (symmetric, round to nearest): x ~= d[b] * q[32 b + i]. Per block b:
//   sum[b]              the sum of its 32 codes;
//   dsum32[b]           d[b] times sum[b] (what one min per 32 values multiplies);
//   dsum16[2 b + h]     d[b] times the sum of half h (what a min per 16 values multiplies).
struct ActQ8Row {
  float* d;
  int32_t* sum;
  int8_t* q;
  float* dsum32;
  float* dsum16;
};
void quantize_act_q8_ref(const float* x, int64_t n, ActQ8Row out);

// Storage for up to `rows` activation rows of up to `max_cols` values (multiples of 32).
// row(t, cols) views row t of rows `cols` wide: row 0's view advanced by t rows of cols / 32
// blocks in every array (as the kernels step from row 0).
class ActQ8Rows {
 public:
  void resize(int64_t rows, int64_t max_cols);
  ActQ8Row row(int64_t t, int64_t cols);
  int64_t rows() const { return rows_; }

 private:
  struct alignas(64) Line {
    uint8_t b[64];
  };
  int64_t rows_ = 0, blocks_ = 0;
  std::vector<Line> mem_;
};

// Reference dot product of one weight row of any quantized type with a quantized activation
// row (n values): an exact integer sum per 16-value half (codes minus the offset times the
// activation codes), scaled in float, mins times dsum16, accumulated in double.
float dot_act_ref(DType t, const void* row, const ActQ8Row& x, int64_t n);

}  // namespace wick
