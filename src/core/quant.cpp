#include "core/quant.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "wick/error.h"

namespace wick {
namespace {

float h2f(uint16_t h) { return f16_to_f32(h); }

void dequant_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = h2f(b[i].d);
    for (int j = 0; j < 32; ++j) y[j] = d * static_cast<float>(b[i].qs[j]);
  }
}

void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = h2f(b[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>((b[i].qs[j] & 0x0F) - 8);
      y[j + 16] = d * static_cast<float>((b[i].qs[j] >> 4) - 8);
    }
  }
}

void dequant_q4_k(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    for (int c = 0; c < 4; ++c) {  // 64 values: sub-blocks 2c (low nibbles) and 2c+1 (high)
      int sc0, m0, sc1, m1;
      q4k_scale_min(b[i].scales, 2 * c, &sc0, &m0);
      q4k_scale_min(b[i].scales, 2 * c + 1, &sc1, &m1);
      const uint8_t* q = b[i].qs + 32 * c;
      for (int l = 0; l < 32; ++l) {
        y[l] = d * static_cast<float>(sc0) * static_cast<float>(q[l] & 0x0F) - dmin * static_cast<float>(m0);
        y[l + 32] = d * static_cast<float>(sc1) * static_cast<float>(q[l] >> 4) - dmin * static_cast<float>(m1);
      }
      y += 64;
    }
  }
}

// Value v (0..127) of half h of a Q6_K block: its 6-bit code.
inline int q6k_code(const BlockQ6_K& b, int h, int v) {
  const uint8_t* ql = b.ql + 64 * h;
  const uint8_t* qh = b.qh + 32 * h;
  const int l = v % 32, quarter = v / 32;  // quarters: ql[l] lo, ql[l+32] lo, ql[l] hi, ql[l+32] hi
  const uint8_t lo = quarter & 1 ? ql[l + 32] : ql[l];
  const int low4 = quarter < 2 ? (lo & 0x0F) : (lo >> 4);
  const int high2 = (qh[l] >> (2 * quarter)) & 3;
  return low4 | (high2 << 4);
}

void dequant_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d);
    for (int h = 0; h < 2; ++h)
      for (int v = 0; v < 128; ++v, ++y)
        *y = d * static_cast<float>(b[i].scales[8 * h + v / 16]) * static_cast<float>(q6k_code(b[i], h, v) - 32);
  }
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

void quant_q4_0(const float* x, BlockQ4_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    // The value of largest magnitude maps to -8 (the asymmetric end of [-8, 7]), keeping its sign.
    float amax = 0, vmax = 0;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), vmax = x[j];
    const float d = vmax / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    b[i].d = f32_to_f16(d);
    auto code = [&](float v) { return static_cast<uint8_t>(std::clamp(static_cast<int>(std::nearbyint(v * id)) + 8, 0, 15)); };
    for (int j = 0; j < 16; ++j) b[i].qs[j] = static_cast<uint8_t>(code(x[j]) | (code(x[j + 16]) << 4));
  }
}

// Q4_K: per sub-block an affine map x ~ s * q - m with q in 0..15; scales and mins are then
// quantized to 6 bits against the block's d and dmin. A few candidate ranges are tried per
// sub-block (shrinking the span) and the one with the least squared error kept.
void quant_q4_k(const float* x, BlockQ4_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scale[8], minv[8];
    for (int j = 0; j < 8; ++j) {
      const float* v = x + 32 * j;
      float lo = std::min(0.0f, *std::min_element(v, v + 32)), hi = *std::max_element(v, v + 32);
      float best_err = INFINITY, best_s = 0, best_m = -lo;
      for (int step = 0; step <= 8; ++step) {
        const float shrink = 1.0f - 0.025f * static_cast<float>(step);
        const float s = (hi - lo) * shrink / 15.0f;
        if (s <= 0) break;
        float err = 0;
        for (int l = 0; l < 32; ++l) {
          const float q = std::clamp(std::nearbyint((v[l] - lo) / s), 0.0f, 15.0f);
          const float e = s * q + lo - v[l];
          err += e * e;
        }
        if (err < best_err) best_err = err, best_s = s, best_m = -lo;
      }
      scale[j] = best_s;
      minv[j] = best_m;
    }
    const float max_scale = *std::max_element(scale, scale + 8), max_min = *std::max_element(minv, minv + 8);
    const float d = max_scale / 63.0f, dmin = max_min / 63.0f;
    b[i].d = f32_to_f16(d);
    b[i].dmin = f32_to_f16(dmin);
    const float dq = h2f(b[i].d), dminq = h2f(b[i].dmin);
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = dq > 0 ? std::clamp(static_cast<int>(std::nearbyint(scale[j] / dq)), 0, 63) : 0;
      m[j] = dminq > 0 ? std::clamp(static_cast<int>(std::nearbyint(minv[j] / dminq)), 0, 63) : 0;
    }
    for (int j = 0; j < 4; ++j) {
      b[i].scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
      b[i].scales[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
      b[i].scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4));
    }
    uint8_t q[256];
    for (int j = 0; j < 8; ++j) {
      const float s = dq * static_cast<float>(sc[j]), mm = dminq * static_cast<float>(m[j]);
      for (int l = 0; l < 32; ++l)
        q[32 * j + l] = s > 0 ? static_cast<uint8_t>(std::clamp(static_cast<int>(std::nearbyint((x[32 * j + l] + mm) / s)), 0, 15)) : 0;
    }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) b[i].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

// Q6_K: per sub-block of 16 a symmetric scale mapping the largest magnitude to -32 (sign kept,
// as Q4_0 does), int8 sub-block scales against the block's d.
void quant_q6_k(const float* x, BlockQ6_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 256) {
    float scale[16];
    for (int j = 0; j < 16; ++j) {
      float amax = 0, vmax = 0;
      for (int l = 0; l < 16; ++l)
        if (std::fabs(x[16 * j + l]) > amax) amax = std::fabs(x[16 * j + l]), vmax = x[16 * j + l];
      scale[j] = vmax / -32.0f;
    }
    float amax = 0, smax = 0;
    for (float s : scale)
      if (std::fabs(s) > amax) amax = std::fabs(s), smax = s;
    const float d = smax / -128.0f;
    b[i].d = f32_to_f16(d);
    const float dq = h2f(b[i].d);
    const float id = dq != 0 ? 1.0f / dq : 0.0f;
    int code[256];
    for (int j = 0; j < 16; ++j) {
      const int s = std::clamp(static_cast<int>(std::nearbyint(scale[j] * id)), -128, 127);
      b[i].scales[j] = static_cast<int8_t>(s);
      const float step = dq * static_cast<float>(s);
      for (int l = 0; l < 16; ++l)
        code[16 * j + l] = step != 0 ? std::clamp(static_cast<int>(std::nearbyint(x[16 * j + l] / step)), -32, 31) + 32 : 32;
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

void check_blocks(DType t, int64_t n) {
  const int bs = dtype_info(t).block_size;
  if (n % bs != 0)
    throw Error(ErrorCode::kShapeMismatch,
                std::string(dtype_name(t)) + " rows need a multiple of " + std::to_string(bs) + " values, got " + std::to_string(n));
}

}  // namespace

void q4k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  check_blocks(t, n);
  const int64_t nb = n / dtype_info(t).block_size;
  switch (t) {
    case DType::Q8_0: return dequant_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb);
    case DType::Q4_0: return dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
    case DType::Q4_K: return dequant_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb);
    case DType::Q6_K: return dequant_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
    default: return convert_to_f32(t, src, dst, n);
  }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  check_blocks(t, n);
  const int64_t nb = n / dtype_info(t).block_size;
  switch (t) {
    case DType::Q8_0: return quant_q8_0(src, static_cast<BlockQ8_0*>(dst), nb);
    case DType::Q4_0: return quant_q4_0(src, static_cast<BlockQ4_0*>(dst), nb);
    case DType::Q4_K: return quant_q4_k(src, static_cast<BlockQ4_K*>(dst), nb);
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

void quantize_act_q8_ref(const float* x, int64_t n, ActQ8Row out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 127.0f / amax : 0.0f;
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[32 * b + j] * id));
      out.q[32 * b + j] = static_cast<int8_t>(q);
      s += q;
    }
    out.d[b] = d;
    out.sum[b] = s;
  }
}

float dot_q8_0_act_ref(const BlockQ8_0* w, const ActQ8Row& x, int64_t n) {
  double acc = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += static_cast<int32_t>(w[b].qs[j]) * x.q[32 * b + j];
    acc += static_cast<double>(static_cast<float>(s) * (h2f(w[b].d) * x.d[b]));
  }
  return static_cast<float>(acc);
}

float dot_q4_0_act_ref(const BlockQ4_0* w, const ActQ8Row& x, int64_t n) {
  double acc = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) {
      s += ((w[b].qs[j] & 0x0F) - 8) * x.q[32 * b + j];
      s += ((w[b].qs[j] >> 4) - 8) * x.q[32 * b + j + 16];
    }
    acc += static_cast<double>(static_cast<float>(s) * (h2f(w[b].d) * x.d[b]));
  }
  return static_cast<float>(acc);
}

}  // namespace wick
