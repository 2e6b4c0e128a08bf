// Runtime selection of the instruction set the CPU kernels are compiled for. The same kernel
// source (cpu_kernels.inc: kernels_elementwise / float_gemm / int8_gemm / block_gemm /
// panel_gemm / attention .inc) is compiled once per ISA; the best one the processor supports
// is used unless the WICK_ISA environment variable, a device name such as "cpu:avx2" or a test
// forces another (an AVX-512 machine can then measure the AVX2 kernels).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/quant.h"

namespace wick {

enum class CpuIsa { kBaseline, kAvx2, kAvx512, kAvx512Vnni };
const char* cpu_isa_name(CpuIsa isa);
CpuIsa best_cpu_isa();
std::vector<CpuIsa> supported_cpu_isas();
// "baseline", "avx2", "avx512" or "avx512vnni", checked against this machine: throws
// kInvalidArgument for an unknown name and kUnsupported for an ISA the processor lacks.
CpuIsa cpu_isa_from_name(const std::string& name);
// The ISA the CPU backend uses by default: WICK_ISA when it is set (checked as above), else
// the best the processor supports.
CpuIsa default_cpu_isa();

// One 32-value chunk of kRows weight rows (16 on AVX-512 VNNI, 8 on AVX2), decoded for the
// outer-product kernel (kernels_panel_gemm.inc): codes[j][r] holds codes 4j .. 4j + 3 of row r
// as 4 bytes; scale and min are per 16-value half and row.
template <int kRows>
struct alignas(64) PanelChunkOf {
  int32_t codes[8][kRows];
  float scale[2][kRows];
  float min[2][kRows];
};
using PanelChunk = PanelChunkOf<16>;  // the widest: what the scratch is sized for
// Bytes of the per-thread panel block_gemm needs for rows of k values.
constexpr int64_t block_panel_bytes(int64_t k) { return (k / 32 + 8) * static_cast<int64_t>(sizeof(PanelChunk)); }

// A tile of attention queries (CpuKernels::attend_tile): n query rows and where their outputs go,
// and the first and last key position each one sees.
struct AttentionTile {
  const float* const* q;  // [n] rows of head_dim floats
  float* const* out;      // [n]
  const int32_t* lo;      // [n]
  const int32_t* pos;     // [n]
  int n;
  // Query heads per KV head in the model (not in this tile): the kernel picks how it computes
  // scores from it, so that every tile of a model computes them alike.
  int heads_per_kv = 1;
};

// Where one KV head's rows lie in a block pool, in elements from its first: position o of block b
// at b * block_stride + o * row_stride (the cache's KvLayout: row_stride head_dim, block_stride
// a whole block's values).
struct KvHeadRows {
  int block_size;
  int64_t row_stride;
  int64_t block_stride;
};

// The innermost loops, one set per ISA.
struct CpuKernels {
  float (*dot)(const float* a, const float* b, int64_t n);
  // Float to F16, rounding to nearest even (the KV cache's stores).
  void (*f32_to_f16)(const float* src, uint16_t* dst, int64_t n);
  // Attention of a tile of queries that share one sequence and one KV head (kernels_attention.inc):
  // query i sees keys tile.lo[i] .. tile.pos[i]; k/v hold the KV head's kv_dtype (F32 / F16)
  // rows, position j at element table[j / layout.block_size] * layout.block_stride +
  // j % layout.block_size * layout.row_stride. softcap > 0: each scaled score becomes
  // softcap * tanh(score / softcap) before the softmax. A query's output does not depend on the
  // tile it is in.
  // scratch: attention_scratch(head_dim, tile.n) floats.
  void (*attend_tile)(const AttentionTile& tile, const void* k, const void* v, DType kv_dtype, const int32_t* table,
                      const KvHeadRows& layout, int head_dim, float scale, float softcap, float* scratch);
  int64_t (*attention_scratch)(int head_dim, int queries);
  // Converts a row of F16 / BF16 to float.
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  void (*bf16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  // A row of activations to 8-bit blocks (core/quant.h has the scalar reference).
  void (*quantize_act_q8)(const float* x, int64_t n, ActQ8Row out);
  // Register-tiled product: y[t * y_stride + r] = dot(x + t * x_stride, row r of w) for t < n,
  // r < rows, w holding rows of k F32 / F16 / BF16 values w_stride elements apart. A token's
  // results are bitwise the same whatever n is (batch invariance).
  void (*gemm)(const float* x, int64_t x_stride, int n, const void* w, DType wt, int64_t w_stride, int rows, int64_t k, float* y,
               int64_t y_stride);
  // The product for F16 / BF16 rows packed at load (packed_weights.h) in groups of
  // float_panel_rows rows, w the first row's group (kernels_float_panel.inc): each output FMA
  // chains over blocks of k in order, batch invariant. Null, and float_panel_rows 0, on the
  // baseline ISA.
  void (*packed_float_gemm)(const float* x, int64_t x_stride, int n, const void* w, DType wt, int rows, int64_t k, float* y,
                            int64_t y_stride);
  int float_panel_rows;
  // The product for the rows block_gemm does not take (Q8_0 and Q4_0 on the baseline ISA),
  // row_bytes apart, against n activation rows quantized to 8-bit blocks (row t is x0 advanced
  // by t rows of k / 32 blocks): one dot product per (row, token). Batch invariant.
  void (*int8_gemm)(const void* w, DType wt, int64_t row_bytes, int rows, const ActQ8Row& x0, int n, int64_t k, float* y, int64_t y_stride);
  // The same product for rows of every block-quantized type on AVX2 and up (all but Q8_0 and
  // Q4_0 on the baseline ISA; kernels_block_gemm.inc), integer dot products per 32-value chunk;
  // all through outer products on decoded panels (kernels_panel_gemm.inc). Batch
  // invariant; dot_act_ref (core/quant.h) is its reference. panel: block_panel_bytes(k) of
  // 64-byte-aligned per-thread scratch.
  void (*block_gemm)(const void* w, DType wt, int64_t row_bytes, int rows, const ActQ8Row& x0, int n, int64_t k, float* y, int64_t y_stride,
                     void* panel);
  // Whether block_gemm takes rows of this type and width: every block type on AVX2 and up;
  // every one but Q8_0 and Q4_0 on the baseline ISA.
  bool (*block_gemm_takes)(DType wt, int64_t k);
  // block_gemm on weights packed at load (packed_weights.h) in groups of panel_rows rows: w is
  // the first row's group, rows start there. The same bits as block_gemm on the rows. Null,
  // and panel_rows 0, on the baseline ISA (no panel kernel).
  void (*packed_gemm)(const void* w, DType wt, int rows, const ActQ8Row& x0, int n, int64_t k, float* y, int64_t y_stride, void* panel);
  int panel_rows;
  // Per-row ops of the forward pass (kernels_elementwise.inc): RMSNorm of one row (y may be x),
  // rotary embedding of one token's heads, gate = silu(gate) * up, y += x.
  void (*rms_norm_row)(const float* x, const float* g, int dim, float eps, float* y);
  void (*rope_row)(float* x, int n_heads, int head_dim, int rotary_dim, const float* cos, const float* sin);
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  void (*add)(float* y, const float* x, int64_t n);
};

const CpuKernels& cpu_kernels(CpuIsa isa);
// Each ISA's table, from cpu_kernels_<isa>.cpp (the x86 ones exist on x86-64 builds only).
const CpuKernels& cpu_kernels_baseline();
const CpuKernels& cpu_kernels_avx2();
const CpuKernels& cpu_kernels_avx512();
const CpuKernels& cpu_kernels_avx512vnni();

class Backend;
// The CPU backend forced to one ISA (tests run every kernel on every ISA the machine has).
std::unique_ptr<Backend> make_cpu_backend_for_isa(int n_threads, CpuIsa isa);

}  // namespace wick
