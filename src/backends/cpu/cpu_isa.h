// Runtime selection of the instruction set the CPU kernels are compiled for. The same kernel
// source (cpu_kernels.inc: kernels_elementwise / float_gemm / int8_gemm / attention .inc) is
// compiled once per ISA; the best one the processor supports is
// used unless a test forces another.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/quant.h"

namespace wick {

enum class CpuIsa { kBaseline, kAvx2, kAvx512, kAvx512Vnni };
const char* cpu_isa_name(CpuIsa isa);
CpuIsa best_cpu_isa();
std::vector<CpuIsa> supported_cpu_isas();

// Bytes prepare_act_pairs may write per pair of 32-value blocks of one activation row.
constexpr int64_t kActPairBytes = 128;

// The innermost loops, one set per ISA.
struct CpuKernels {
  float (*dot)(const float* a, const float* b, int64_t n);
  // Float to F16, rounding to nearest even (the KV cache's stores).
  void (*f32_to_f16)(const float* src, uint16_t* dst, int64_t n);
  // One query head's attention over positions lo..pos of its sequence: k/v hold kv_dtype rows
  // kv_stride elements apart, already offset to the head's KV head; position j is in row
  // table[j / block_size] * block_size + j % block_size. scores: scratch of pos - lo + 1 floats.
  // softcap > 0: each scaled score becomes softcap * tanh(score / softcap) before the softmax.
  void (*attend)(const float* q, const void* k, const void* v, DType kv_dtype, const int32_t* table, int block_size, int64_t kv_stride,
                 int lo, int pos, int head_dim, float scale, float softcap, float* scores, float* out);
  // Converts a row of F16 / BF16 to float.
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  void (*bf16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  // Integer kernels (core/quant.h has their scalar references): a row of activations to 8-bit
  // blocks, and dot products of Q8_0 / Q4_0 weight rows with such a row.
  void (*quantize_act_q8)(const float* x, int64_t n, ActQ8Row out);
  float (*dot_q8_0)(const BlockQ8_0* w, const ActQ8Row& x, int64_t n);
  float (*dot_q4_0)(const BlockQ4_0* w, const ActQ8Row& x, int64_t n);
  // Register-tiled product: y[t * y_stride + r] = dot(x + t * x_stride, row r of w) for t < n,
  // r < rows, w holding rows of k F32 / F16 / BF16 values w_stride elements apart. A token's
  // results are bitwise the same whatever n is (batch invariance).
  void (*gemm)(const float* x, int64_t x_stride, int n, const void* w, DType wt, int64_t w_stride, int rows, int64_t k, float* y,
               int64_t y_stride);
  // Per-ISA data derived from n quantized activation rows (row t is x0 advanced by t rows of
  // k / 32 blocks) for a product with `wt` weights, written to `pairs` (kActPairBytes per two
  // blocks per row; nothing on ISAs that need none).
  void (*prepare_act_pairs)(const ActQ8Row& x0, int n, int64_t k, DType wt, void* pairs);
  // The tiled product for Q8_0 / Q4_0 rows (row_bytes apart) against those activation rows,
  // given what prepare_act_pairs wrote. Batch invariant too.
  void (*int8_gemm)(const void* w, DType wt, int64_t row_bytes, int rows, const ActQ8Row& x0, const void* pairs, int n, int64_t k, float* y,
                    int64_t y_stride);
  // The same product for rows of every other block-quantized type (Q4_1, Q5_0, Q5_1, IQ4_NL,
  // Q2_K ... Q6_K, IQ4_XS; kernels_block_gemm.inc), integer dot products per 32-value chunk.
  // Batch invariant; dot_act_ref (core/quant.h) is its reference.
  void (*block_gemm)(const void* w, DType wt, int64_t row_bytes, int rows, const ActQ8Row& x0, int n, int64_t k, float* y,
                     int64_t y_stride);
  // Per-row ops of the forward pass (kernels_elementwise.inc): RMSNorm of one row (y may be x),
  // rotary embedding of one token's heads, gate = silu(gate) * up, y += x.
  void (*rms_norm_row)(const float* x, const float* g, int dim, float eps, float* y);
  void (*rope_row)(float* x, int n_heads, int head_dim, int rotary_dim, const float* cos, const float* sin);
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  void (*add)(float* y, const float* x, int64_t n);
};

const CpuKernels& cpu_kernels(CpuIsa isa);

class Backend;
// The CPU backend forced to one ISA (tests run every kernel on every ISA the machine has).
std::unique_ptr<Backend> make_cpu_backend_for_isa(int n_threads, CpuIsa isa);

}  // namespace wick
