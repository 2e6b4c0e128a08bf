// Quantizing float rows into the block formats of core/quant.h. Round-to-nearest fits, with a
// small search over the range per (sub-)block where that lowers the squared error; the layouts
// are ggml's, the search is wick's own (llama.cpp's quantizer searches harder, with importance
// weights; files it wrote load here all the same).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/quant.h"
#include "wick/error.h"

namespace wick {
namespace {

float h2f(uint16_t h) { return f16_to_f32(h); }
int round_clamp(float v, int lo, int hi) { return std::clamp(static_cast<int>(std::nearbyint(v)), lo, hi); }

// Byte j holds codes j (low nibble) and j + 16 (high nibble).
void pack_nibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
}

// Symmetric scale of n values with codes in [-nmax, nmax - 1]: the value of largest magnitude
// maps to -nmax, keeping its sign, so the asymmetric end of the range is used.
float symmetric_scale(const float* v, int n, int nmax) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(v[i]) > amax) amax = std::fabs(v[i]), vmax = v[i];
  return vmax / -static_cast<float>(nmax);
}

// Affine fit x ~ s * q + lo, q in 0..levels, of n values: the span is shrunk in a few steps
// and the fit with the least squared error kept. min_at_most_zero: the formats that store the
// min as a subtracted non-negative number (the K-quants) need lo <= 0.
void affine_fit(const float* v, int n, int levels, bool min_at_most_zero, float* s_out, float* lo_out) {
  float lo = *std::min_element(v, v + n), hi = *std::max_element(v, v + n);
  if (min_at_most_zero) lo = std::min(lo, 0.0f);
  float best_err = INFINITY, best_s = 0, best_lo = lo;
  for (int step = 0; step <= 8; ++step) {
    const float s = (hi - lo) * (1.0f - 0.025f * static_cast<float>(step)) / static_cast<float>(levels);
    if (s <= 0) break;
    float err = 0;
    for (int l = 0; l < n; ++l) {
      const float q = std::clamp(std::nearbyint((v[l] - lo) / s), 0.0f, static_cast<float>(levels));
      const float e = s * q + lo - v[l];
      err += e * e;
    }
    if (err < best_err) best_err = err, best_s = s, best_lo = lo;
  }
  *s_out = best_s;
  *lo_out = best_lo;
}

// Codes of n values for x ~ s * (q - offset) + min, q in 0..levels (0 where s is 0).
void codes_for(const float* v, int n, float s, float min, int offset, int levels, int* q) {
  for (int l = 0; l < n; ++l) q[l] = s != 0 ? round_clamp((v[l] - min) / s + static_cast<float>(offset), 0, levels) : offset;
}

// Q5_0 / Q5_1: the fifth bit of code j goes to bit j of qh; the codes keep their low 4 bits.
void split_fifth_bits(int* q, uint8_t* qh) {
  uint32_t bits = 0;
  for (int j = 0; j < 32; ++j) bits |= static_cast<uint32_t>(q[j] >> 4) << j, q[j] &= 0x0F;
  std::memcpy(qh, &bits, 4);
}

void quant_q8_0(const float* x, BlockQ8_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    for (int j = 0; j < 32; ++j) b[i].qs[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
  }
}

// Q4_0 / Q5_0: symmetric, code q - half in [-half, half - 1], the fifth bits (Q5_0) in qh.
template <typename B>
void quant_symmetric_32(const float* x, B* b, int64_t nb, int half) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    const float d = symmetric_scale(x, 32, half);
    b[i].d = f32_to_f16(d);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = std::clamp(static_cast<int>(std::nearbyint(x[j] * id)) + half, 0, 2 * half - 1);
    if constexpr (sizeof(B) == sizeof(BlockQ5_0)) split_fifth_bits(q, b[i].qh);
    pack_nibbles(q, b[i].qs);
  }
}

// Q4_1 / Q5_1: affine, x = d * q + m with q in 0..levels.
template <typename B>
void quant_affine_32(const float* x, B* b, int64_t nb, int levels) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float s, lo;
    affine_fit(x, 32, levels, false, &s, &lo);
    b[i].d = f32_to_f16(s);
    b[i].m = f32_to_f16(lo);
    int q[32];
    codes_for(x, 32, h2f(b[i].d), h2f(b[i].m), 0, levels, q);
    if constexpr (sizeof(B) == sizeof(BlockQ5_1)) split_fifth_bits(q, b[i].qh);
    pack_nibbles(q, b[i].qs);
  }
}

// The IQ4 grid index nearest to v (kIq4nlValues is sorted).
int nearest_iq4(float v) {
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    (v < static_cast<float>(kIq4nlValues[mid]) ? hi : lo) = mid;
  }
  return v - static_cast<float>(kIq4nlValues[lo]) <= static_cast<float>(kIq4nlValues[hi]) - v ? lo : hi;
}

// IQ4 scale of 32 values: the largest magnitude maps to an end of the grid (the end of its
// sign), then scales around that are tried and the least squared error kept. Writes the codes.
float iq4_fit(const float* v, int* q) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < 32; ++i)
    if (std::fabs(v[i]) > amax) amax = std::fabs(v[i]), vmax = v[i];
  if (amax == 0) {
    for (int i = 0; i < 32; ++i) q[i] = nearest_iq4(0.0f);
    return 0.0f;
  }
  const float base = vmax / static_cast<float>(kIq4nlValues[0]);  // -127: the grid's wider end
  float best_d = base, best_err = INFINITY;
  for (int step = -6; step <= 6; ++step) {
    const float d = base * (1.0f + 0.03f * static_cast<float>(step));
    float err = 0;
    for (int i = 0; i < 32; ++i) {
      const float e = d * static_cast<float>(kIq4nlValues[nearest_iq4(v[i] / d)]) - v[i];
      err += e * e;
    }
    if (err < best_err) best_err = err, best_d = d;
  }
  for (int i = 0; i < 32; ++i) q[i] = nearest_iq4(v[i] / best_d);
  return best_d;
}

void quant_iq4_nl(const float* x, BlockIQ4_NL* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    int q[32];
    b[i].d = f32_to_f16(iq4_fit(x, q));
    const float d = h2f(b[i].d);
    for (int j = 0; j < 32; ++j) q[j] = d != 0 ? nearest_iq4(x[j] / d) : nearest_iq4(0.0f);
    pack_nibbles(q, b[i].qs);
  }
}

void quant_iq4_xs(const float* x, BlockIQ4_XS* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float dj[8];
    int q[32];
    for (int j = 0; j < 8; ++j) dj[j] = iq4_fit(x + 32 * j, q);
    // Sub-block scales as d * (ls - 32), ls - 32 in [-32, 31]: the largest magnitude maps to -32.
    const float d = symmetric_scale(dj, 8, 32);
    b[i].d = f32_to_f16(d);
    const float dq = h2f(b[i].d);
    b[i].scales_h = 0;
    std::memset(b[i].scales_l, 0, 4);
    for (int j = 0; j < 8; ++j) {
      const int ls = dq != 0 ? round_clamp(dj[j] / dq, -32, 31) + 32 : 32;
      b[i].scales_l[j / 2] = static_cast<uint8_t>(b[i].scales_l[j / 2] | ((ls & 0x0F) << (4 * (j % 2))));
      b[i].scales_h = static_cast<uint16_t>(b[i].scales_h | ((ls >> 4) << (2 * j)));
      const float step = dq * static_cast<float>(ls - 32);
      for (int l = 0; l < 32; ++l) q[l] = step != 0 ? nearest_iq4(x[32 * j + l] / step) : nearest_iq4(0.0f);
      pack_nibbles(q, b[i].qs + 16 * j);
    }
  }
}

// K-quant sub-block scales and mins (non-negative) quantized against a block-wide step:
// code = round(v / step) in 0..max_code.
void quantize_sub_scales(const float* v, int n, int max_code, uint16_t* step_f16, int* codes) {
  const float vmax = *std::max_element(v, v + n);
  *step_f16 = f32_to_f16(vmax / static_cast<float>(max_code));
  const float step = h2f(*step_f16);
  for (int j = 0; j < n; ++j) codes[j] = step > 0 ? round_clamp(v[j] / step, 0, max_code) : 0;
}

// Q4_K / Q5_K: per sub-block of 32 an affine fit x ~ s * q - m, scales and mins to 6 bits.
template <typename B>
void quant_q4_q5_k(const float* x, B* b, int64_t nb) {
  constexpr bool kFive = sizeof(B) == sizeof(BlockQ5_K);
  constexpr int kLevels = kFive ? 31 : 15;
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scale[8], minv[8];
    for (int j = 0; j < 8; ++j) {
      float lo;
      affine_fit(x + 32 * j, 32, kLevels, true, &scale[j], &lo);
      minv[j] = -lo;
    }
    int sc[8], m[8];
    quantize_sub_scales(scale, 8, 63, &b[i].d, sc);
    quantize_sub_scales(minv, 8, 63, &b[i].dmin, m);
    for (int j = 0; j < 4; ++j) {
      b[i].scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
      b[i].scales[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
      b[i].scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4));
    }
    int q[256];
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    for (int j = 0; j < 8; ++j)
      codes_for(x + 32 * j, 32, d * static_cast<float>(sc[j]), -(dmin * static_cast<float>(m[j])), 0, kLevels, q + 32 * j);
    if constexpr (kFive) {
      std::memset(b[i].qh, 0, 32);
      for (int j = 0; j < 8; ++j)
        for (int l = 0; l < 32; ++l) b[i].qh[l] = static_cast<uint8_t>(b[i].qh[l] | ((q[32 * j + l] >> 4) << j)), q[32 * j + l] &= 0x0F;
    }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) b[i].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

// Q2_K / Q3_K: 2-bit codes of 16 sub-blocks; value 128 h + 32 j + l at bits 2 j of qs[32 h + l].
void pack_two_bits(const int* q, uint8_t* qs) {
  std::memset(qs, 0, 64);
  for (int v = 0; v < 256; ++v) {
    const int h = v / 128, j = (v % 128) / 32, l = v % 32;
    qs[32 * h + l] = static_cast<uint8_t>(qs[32 * h + l] | ((q[v] & 3) << (2 * j)));
  }
}

// Q2_K: per sub-block of 16 an affine fit x ~ s * q - m (q in 0..3), scales and mins to 4 bits.
void quant_q2_k(const float* x, BlockQ2_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scale[16], minv[16];
    for (int j = 0; j < 16; ++j) {
      float lo;
      affine_fit(x + 16 * j, 16, 3, true, &scale[j], &lo);
      minv[j] = -lo;
    }
    int sc[16], m[16], q[256];
    quantize_sub_scales(scale, 16, 15, &b[i].d, sc);
    quantize_sub_scales(minv, 16, 15, &b[i].dmin, m);
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    for (int j = 0; j < 16; ++j) {
      b[i].scales[j] = static_cast<uint8_t>(sc[j] | (m[j] << 4));
      codes_for(x + 16 * j, 16, d * static_cast<float>(sc[j]), -(dmin * static_cast<float>(m[j])), 0, 3, q + 16 * j);
    }
    pack_two_bits(q, b[i].qs);
  }
}

// Q3_K: per sub-block of 16 a symmetric scale (codes q - 4 in [-4, 3]), 6-bit signed scales.
void quant_q3_k(const float* x, BlockQ3_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scale[16];
    for (int j = 0; j < 16; ++j) scale[j] = symmetric_scale(x + 16 * j, 16, 4);
    const float d = symmetric_scale(scale, 16, 32);
    b[i].d = f32_to_f16(d);
    const float dq = h2f(b[i].d);
    int q[256];
    std::memset(b[i].scales, 0, 12);
    for (int j = 0; j < 16; ++j) {
      const int s = dq != 0 ? round_clamp(scale[j] / dq, -32, 31) + 32 : 32;
      b[i].scales[j % 8] = static_cast<uint8_t>(b[i].scales[j % 8] | ((s & 0x0F) << (j < 8 ? 0 : 4)));
      b[i].scales[8 + j % 4] = static_cast<uint8_t>(b[i].scales[8 + j % 4] | ((s >> 4) << (2 * (j / 4))));
      codes_for(x + 16 * j, 16, dq * static_cast<float>(s - 32), 0.0f, 4, 7, q + 16 * j);
    }
    std::memset(b[i].hmask, 0, 32);
    for (int v = 0; v < 256; ++v) b[i].hmask[v % 32] = static_cast<uint8_t>(b[i].hmask[v % 32] | ((q[v] >> 2) << (v / 32)));
    pack_two_bits(q, b[i].qs);
  }
}

// Q6_K: per sub-block of 16 a symmetric scale (codes q - 32 in [-32, 31]), int8 scales.
void quant_q6_k(const float* x, BlockQ6_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scale[16];
    for (int j = 0; j < 16; ++j) scale[j] = symmetric_scale(x + 16 * j, 16, 32);
    b[i].d = f32_to_f16(symmetric_scale(scale, 16, 128));
    const float dq = h2f(b[i].d);
    int code[256];
    for (int j = 0; j < 16; ++j) {
      const int s = dq != 0 ? round_clamp(scale[j] / dq, -128, 127) : 0;
      b[i].scales[j] = static_cast<int8_t>(s);
      codes_for(x + 16 * j, 16, dq * static_cast<float>(s), 0.0f, 32, 63, code + 16 * j);
    }
    for (int h = 0; h < 2; ++h) {
      uint8_t* ql = b[i].ql + 64 * h;
      uint8_t* qh = b[i].qh + 32 * h;
      const int* c = code + 128 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((c[l] & 0x0F) | ((c[l + 64] & 0x0F) << 4));
        ql[l + 32] = static_cast<uint8_t>((c[l + 32] & 0x0F) | ((c[l + 96] & 0x0F) << 4));
        qh[l] = static_cast<uint8_t>((c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) | ((c[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  check_whole_blocks(t, n);
  const int64_t nb = n / dtype_info(t).block_size;
  switch (t) {
    case DType::Q8_0: return quant_q8_0(src, static_cast<BlockQ8_0*>(dst), nb);
    case DType::Q4_0: return quant_symmetric_32(src, static_cast<BlockQ4_0*>(dst), nb, 8);
    case DType::Q5_0: return quant_symmetric_32(src, static_cast<BlockQ5_0*>(dst), nb, 16);
    case DType::Q4_1: return quant_affine_32(src, static_cast<BlockQ4_1*>(dst), nb, 15);
    case DType::Q5_1: return quant_affine_32(src, static_cast<BlockQ5_1*>(dst), nb, 31);
    case DType::IQ4_NL: return quant_iq4_nl(src, static_cast<BlockIQ4_NL*>(dst), nb);
    case DType::IQ4_XS: return quant_iq4_xs(src, static_cast<BlockIQ4_XS*>(dst), nb);
    case DType::Q2_K: return quant_q2_k(src, static_cast<BlockQ2_K*>(dst), nb);
    case DType::Q3_K: return quant_q3_k(src, static_cast<BlockQ3_K*>(dst), nb);
    case DType::Q4_K: return quant_q4_q5_k(src, static_cast<BlockQ4_K*>(dst), nb);
    case DType::Q5_K: return quant_q4_q5_k(src, static_cast<BlockQ5_K*>(dst), nb);
    case DType::Q6_K: return quant_q6_k(src, static_cast<BlockQ6_K*>(dst), nb);
    case DType::F32: std::copy(src, src + n, static_cast<float*>(dst)); return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_f16(src[i]);
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
      return;
  }
}

}  // namespace wick
