// Decoding of the block-quantized formats (core/quant.h): one 32-value chunk at a time, the
// form every integer kernel computes with, and from it dequantize_row; the activation format of
// the integer kernels and the reference dot product. Quantizing is in quant_encode.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/quant.h"
#include "wick/error.h"

namespace wick {
namespace {

float h2f(uint16_t h) { return f16_to_f32(h); }

// Byte j of 16 packed bytes holds value j (low nibble) and value j + 16 (high nibble).
void unpack_nibbles(const uint8_t* qs, uint8_t* u) {
  for (int j = 0; j < 16; ++j) {
    u[j] = qs[j] & 0x0F;
    u[j + 16] = qs[j] >> 4;
  }
}

void set_both(WeightChunk* o, float scale, float min) {
  o->scale[0] = o->scale[1] = scale;
  o->min[0] = o->min[1] = min;
}

// Decoders of one chunk c of a row of blocks of the given type.
template <typename B>
const B& block_of(const void* row, int64_t index) {
  return static_cast<const B*>(row)[index];
}

void chunk_q8_0(const BlockQ8_0& b, WeightChunk* o) {
  for (int j = 0; j < 32; ++j) o->u[j] = static_cast<uint8_t>(b.qs[j] + 128);
  set_both(o, h2f(b.d), 0.0f);
}

// Q5_0 / Q5_1: the fifth bit of value j is bit j of the little-endian 32-bit qh.
void add_fifth_bits(const uint8_t* qh, uint8_t* u) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  for (int j = 0; j < 32; ++j) u[j] = static_cast<uint8_t>(u[j] | (((bits >> j) & 1u) << 4));
}

void chunk_iq4(const uint8_t* qs, float d, WeightChunk* o) {
  unpack_nibbles(qs, o->u);
  for (uint8_t& u : o->u) u = static_cast<uint8_t>(kIq4nlValues[u] + 128);
  set_both(o, d, 0.0f);
}

// Q2_K / Q3_K: chunk k (0..7) of a super-block takes bits 2 (k % 4) of the 32 bytes at qs + 32 (k / 4).
void two_bits(const uint8_t* qs, int k, uint8_t* u) {
  const uint8_t* q = qs + 32 * (k / 4);
  const int shift = 2 * (k % 4);
  for (int l = 0; l < 32; ++l) u[l] = (q[l] >> shift) & 3;
}

void chunk_q2_k(const BlockQ2_K& b, int k, WeightChunk* o) {
  two_bits(b.qs, k, o->u);
  const float d = h2f(b.d), dmin = h2f(b.dmin);
  for (int h = 0; h < 2; ++h) {
    const uint8_t sc = b.scales[2 * k + h];
    o->scale[h] = d * static_cast<float>(sc & 0x0F);
    o->min[h] = -(dmin * static_cast<float>(sc >> 4));
  }
}

void chunk_q3_k(const BlockQ3_K& b, int k, WeightChunk* o) {
  two_bits(b.qs, k, o->u);
  for (int l = 0; l < 32; ++l) o->u[l] = static_cast<uint8_t>(o->u[l] | (((b.hmask[l] >> k) & 1) << 2));
  const float d = h2f(b.d);
  for (int h = 0; h < 2; ++h) {
    o->scale[h] = d * static_cast<float>(q3k_scale(b.scales, 2 * k + h) - 32);
    o->min[h] = 0.0f;
  }
}

// Q4_K / Q5_K: chunk k takes the low (k even) or high nibbles of the 32 bytes at qs + 32 (k / 2).
template <typename B>
void chunk_q4_q5_k(const B& b, int k, WeightChunk* o) {
  const uint8_t* q = b.qs + 32 * (k / 2);
  for (int l = 0; l < 32; ++l) o->u[l] = k % 2 ? q[l] >> 4 : q[l] & 0x0F;
  if constexpr (sizeof(B) == sizeof(BlockQ5_K))
    for (int l = 0; l < 32; ++l) o->u[l] = static_cast<uint8_t>(o->u[l] | (((b.qh[l] >> k) & 1) << 4));
  int sc, m;
  q4k_scale_min(b.scales, k, &sc, &m);
  set_both(o, h2f(b.d) * static_cast<float>(sc), -(h2f(b.dmin) * static_cast<float>(m)));
}

// Q6_K: chunk k is quarter k % 4 of half k / 4: low nibbles of ql[32 (k & 1)..] (k % 4 < 2) or
// their high nibbles, and bits 2 (k % 4) of qh.
void chunk_q6_k(const BlockQ6_K& b, int k, WeightChunk* o) {
  const int h = k / 4, j = k % 4;
  const uint8_t* ql = b.ql + 64 * h + 32 * (j & 1);
  const uint8_t* qh = b.qh + 32 * h;
  const int shift = 4 * (j >> 1);
  for (int l = 0; l < 32; ++l) o->u[l] = static_cast<uint8_t>(((ql[l] >> shift) & 0x0F) | (((qh[l] >> (2 * j)) & 3) << 4));
  const float d = h2f(b.d);
  for (int s = 0; s < 2; ++s) {
    o->scale[s] = d * static_cast<float>(b.scales[8 * h + 2 * j + s]);
    o->min[s] = 0.0f;
  }
}

void chunk_iq4_xs(const BlockIQ4_XS& b, int k, WeightChunk* o) {
  chunk_iq4(b.qs + 16 * k, h2f(b.d) * static_cast<float>(iq4xs_scale(b, k) - 32), o);
}

}  // namespace

void check_whole_blocks(DType t, int64_t n) {
  const int bs = dtype_info(t).block_size;
  if (n % bs != 0)
    throw Error(ErrorCode::kShapeMismatch,
                std::string(dtype_name(t)) + " rows need a multiple of " + std::to_string(bs) + " values, got " + std::to_string(n));
}

void q4k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q3_K packs 16 6-bit scales in 12 bytes: low nibbles of scale j in byte j % 8 (low nibble for
// j < 8, high for j >= 8), high 2 bits at bits 2 (j / 4) of byte 8 + j % 4.
int q3k_scale(const uint8_t* s, int j) {
  const int low = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4;
  const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return low | (high << 4);
}

int chunk_offset(DType t) {
  switch (t) {
    case DType::Q8_0:
    case DType::IQ4_NL:
    case DType::IQ4_XS: return 128;
    case DType::Q6_K: return 32;
    case DType::Q5_0: return 16;
    case DType::Q4_0: return 8;
    case DType::Q3_K: return 4;
    default: return 0;
  }
}

bool chunk_has_min(DType t) { return t == DType::Q4_1 || t == DType::Q5_1 || t == DType::Q2_K || t == DType::Q4_K || t == DType::Q5_K; }

void decode_chunk(DType t, const void* row, int64_t c, WeightChunk* o) {
  const int k = static_cast<int>(c % 8);  // chunk within a 256-value super-block
  switch (t) {
    case DType::Q8_0: return chunk_q8_0(block_of<BlockQ8_0>(row, c), o);
    case DType::Q4_0: {
      const auto& b = block_of<BlockQ4_0>(row, c);
      unpack_nibbles(b.qs, o->u);
      return set_both(o, h2f(b.d), 0.0f);
    }
    case DType::Q4_1: {
      const auto& b = block_of<BlockQ4_1>(row, c);
      unpack_nibbles(b.qs, o->u);
      return set_both(o, h2f(b.d), h2f(b.m));
    }
    case DType::Q5_0: {
      const auto& b = block_of<BlockQ5_0>(row, c);
      unpack_nibbles(b.qs, o->u);
      add_fifth_bits(b.qh, o->u);
      return set_both(o, h2f(b.d), 0.0f);
    }
    case DType::Q5_1: {
      const auto& b = block_of<BlockQ5_1>(row, c);
      unpack_nibbles(b.qs, o->u);
      add_fifth_bits(b.qh, o->u);
      return set_both(o, h2f(b.d), h2f(b.m));
    }
    case DType::IQ4_NL: {
      const auto& b = block_of<BlockIQ4_NL>(row, c);
      return chunk_iq4(b.qs, h2f(b.d), o);
    }
    case DType::Q2_K: return chunk_q2_k(block_of<BlockQ2_K>(row, c / 8), k, o);
    case DType::Q3_K: return chunk_q3_k(block_of<BlockQ3_K>(row, c / 8), k, o);
    case DType::Q4_K: return chunk_q4_q5_k(block_of<BlockQ4_K>(row, c / 8), k, o);
    case DType::Q5_K: return chunk_q4_q5_k(block_of<BlockQ5_K>(row, c / 8), k, o);
    case DType::Q6_K: return chunk_q6_k(block_of<BlockQ6_K>(row, c / 8), k, o);
    case DType::IQ4_XS: return chunk_iq4_xs(block_of<BlockIQ4_XS>(row, c / 8), k, o);
    default: throw Error(ErrorCode::kInternal, std::string("decode_chunk: ") + dtype_name(t) + " is not block-quantized");
  }
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  check_whole_blocks(t, n);
  if (!dtype_info(t).quantized) return convert_to_f32(t, src, dst, n);
  const int offset = chunk_offset(t);
  WeightChunk w;
  for (int64_t c = 0; c < n / 32; ++c, dst += 32) {
    decode_chunk(t, src, c, &w);
    // scale * (u - offset) + min, the product first, as ggml's dequantize_row_* computes it
    // (an added min of 0 changes nothing).
    for (int i = 0; i < 32; ++i) dst[i] = w.scale[i / 16] * static_cast<float>(w.u[i] - offset) + w.min[i / 16];
  }
}

void quantize_act_q8_ref(const float* x, int64_t n, ActQ8Row out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 127.0f / amax : 0.0f;
    int32_t half[2] = {0, 0};
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[32 * b + j] * id));
      out.q[32 * b + j] = static_cast<int8_t>(q);
      half[j / 16] += q;
    }
    out.d[b] = d;
    out.sum[b] = half[0] + half[1];
    out.dsum32[b] = d * static_cast<float>(out.sum[b]);
    out.dsum16[2 * b] = d * static_cast<float>(half[0]);
    out.dsum16[2 * b + 1] = d * static_cast<float>(half[1]);
  }
}

void ActQ8Rows::resize(int64_t rows, int64_t max_cols) {
  rows_ = std::max<int64_t>(rows, 1);
  blocks_ = (max_cols + 31) / 32;
  // Array after array, each over all rows (row t's part of each is t blocks along, as
  // act_row in the kernels steps): d, sum (4 bytes per block), q (32), dsum32 (4), dsum16 (8);
  // each array starts on its own 64-byte line.
  auto lines = [&](int64_t bytes_per_block) { return (rows_ * blocks_ * bytes_per_block + 63) / 64; };
  mem_.assign(static_cast<size_t>(3 * lines(4) + lines(32) + lines(8)), Line{});
}

ActQ8Row ActQ8Rows::row(int64_t t, int64_t cols) {
  auto lines = [&](int64_t bytes_per_block) { return (rows_ * blocks_ * bytes_per_block + 63) / 64; };
  uint8_t* p = mem_.data()->b;
  const int64_t nb = cols / 32;
  if (t < 0 || nb > blocks_ || (t + 1) * nb > rows_ * blocks_)
    throw Error(ErrorCode::kInternal,
                "activation row " + std::to_string(t) + " of " + std::to_string(cols) + " values is beyond the reserve");
  ActQ8Row r;
  r.d = reinterpret_cast<float*>(p) + t * nb;
  r.sum = reinterpret_cast<int32_t*>(p + lines(4) * 64) + t * nb;
  r.q = reinterpret_cast<int8_t*>(p + 2 * lines(4) * 64) + t * nb * 32;
  r.dsum32 = reinterpret_cast<float*>(p + (2 * lines(4) + lines(32)) * 64) + t * nb;
  r.dsum16 = reinterpret_cast<float*>(p + (3 * lines(4) + lines(32)) * 64) + t * nb * 2;
  return r;
}

float dot_act_ref(DType t, const void* row, const ActQ8Row& x, int64_t n) {
  const int offset = chunk_offset(t);
  WeightChunk w;
  double acc = 0;
  for (int64_t c = 0; c < n / 32; ++c) {
    decode_chunk(t, row, c, &w);
    int32_t s[2] = {0, 0};
    for (int i = 0; i < 32; ++i) s[i / 16] += (w.u[i] - offset) * x.q[32 * c + i];
    if (w.scale[0] == w.scale[1])
      acc += static_cast<double>(static_cast<float>(s[0] + s[1]) * (w.scale[0] * x.d[c]));
    else
      for (int h = 0; h < 2; ++h) acc += static_cast<double>(static_cast<float>(s[h]) * (w.scale[h] * x.d[c]));
    for (int h = 0; h < 2; ++h) acc += static_cast<double>(w.min[h] * x.dsum16[2 * c + h]);
  }
  return static_cast<float>(acc);
}

}  // namespace wick
