// Block-quantized weight matrices repacked once, at load, into the layout the panel kernel
// (kernels_panel_gemm.inc) reads: without it, every product transposes each unit of a row group
// on the fly (dword transposes and loads of 8 or 16 rows side by side), once per decoded token.
//
// Block types, rows of k values in groups of `group_rows` (the quantized panel kernel's lanes:
// 8 on AVX2, 16 on AVX-512 VNNI) and units of 256 values (a K-quant super-block or 8 blocks of
// 32; unit_bytes = the bytes of 256 values of one row):
//
//   packed[g][u][i][r] = dword i of row (group_rows g + r)'s unit u     (uint32, little-endian)
//   (Q5_K, Q6_K: regrouped first, q5k_pack_unit / q6k_pack_unit below)
//
// for i < unit_dwords = ceil(unit_bytes / 4): a unit of a group is unit_dwords vectors of
// group_rows lanes, lane r holding row r. Bytes past a row's end (the last unit of a row whose
// blocks of 32 are not a multiple of 8, the padding of the last dword) are zero. Such a partial
// last unit is stored only as far as its last block's codes (last_unit_dwords, planar below):
// k = 896 (Qwen2.5-0.5B) is 3.5 units, and whole last units made every product stream 12.5%
// more bytes than the weights.
//
// The types with blocks of 32 values (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q8_0: blocks of 18 to 34
// bytes, so every other block's fields sit 2 bytes off a dword) are first made planar within
// each row's unit: the 8 blocks' headers (d, or d and m), then their fifth-bit words (Q5_0,
// Q5_1), then their codes, every field dword-aligned. A fifth-bit word qh (bit v: value v's
// fifth bit) becomes qh' with bit 8 b + i = bit 4 i + b of qh, so the fifth bits of values
// 4 i .. 4 i + 3 are bit i of qh's 4 bytes: one shift and one mask give them in place.
//
// Q6_K units are regrouped (q6k_pack_unit, below): per half of 128 values, the file's 4-bit ql
// and 2-bit qh fields become three runs of 32 bytes, X, Y and Z, from which the decoder takes two
// of a half's four chunks with one mask and the other two with a select, where the file's layout
// takes a shift, two masks and an or for each (AVX2: 22 instructions per chunk's codes on
// average, against 34). The runs are stored in the order the decoder first reads them: in the
// file's order its reads jump back and forth across the unit (ql runs of chunk pairs 256 bytes
// apart, the qh run after them, the scales at the end), which stops the hardware prefetchers:
// streamed from memory without software prefetch, such a unit read 3.7-4.4 GB/s against
// 11.1-11.8 in first-read order (a standalone test on this VM's Zen 4 core).
//
// Q5_K units are regrouped likewise (q5k_pack_unit): chunks 0-3's 5-bit codes whole in the low
// bits of four runs, chunks 4-7's split over those runs' top 3 bits and a fifth run, so half
// the chunks take one mask and the others two shifts, two masks and an or, where the file's
// nibbles and separate fifth bits take 4.4 instructions per code vector on AVX2 (3 now).
// AVX2 Q5_K from memory (32000 x 2048, 1 token, 2 threads): 1.23-1.31x; in the model, TinyLlama
// Q5_K_M decode 1.05x on both ISAs (it is mostly memory-bound there).
//
// F16 / BF16 / F32 (kernels_float_panel.inc; groups of a float vector's lanes, 8 or 16):
//
//   F16, F32: packed[g][j][r] = element j of row (group_rows g + r)         (2 or 4 bytes)
//   BF16: packed[g][j / 2][r] = elements j, j + 1 of that row (j even)       (4 bytes, j low;
//         an odd k's last high half zero)
//
// In both, the rows of the last group past the matrix repeat its last row. The bits are the
// file's, only moved (Q5_K's and Q6_K's codes regrouped), so a packed matrix computes exactly what its rows
// do, and a row can be read back (unpack_row).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/dtype.h"
#include "core/tensor.h"

namespace wick {

// A type whose packed units are regrouped (Q5_K, Q6_K, below): its unit's dwords, and the
// regrouping of one row's unit both ways.
struct UnitRegroup {
  int dwords;
  void (*pack)(const uint8_t* file, uint32_t* packed);
  void (*unpack)(const uint32_t* packed, uint8_t* file);
};

struct PackedShape {
  int group_rows = 0;
  int elem_bytes = 0;  // F16 / BF16: 2, F32: 4, elements interleaved; block types: 0, units of dwords
  bool pairs = false;  // BF16: elements in pairs per 4-byte lane
  int64_t rows = 0, k = 0, groups = 0, units = 0;
  int64_t row_bytes = 0;   // bytes of one row as stored in the file
  int64_t unit_bytes = 0;  // bytes of 256 values of one row (block types)
  int64_t unit_dwords = 0;
  // Blocks of 32 values, made planar per unit (above): bytes per block of the header, the
  // fifth-bit word and the codes; 0 for the other types.
  int block_head = 0, block_qh = 0, block_codes = 0;
  const UnitRegroup* regroup = nullptr;  // Q5_K / Q6_K: units regrouped (q5k_pack_unit / q6k_pack_unit)
  int64_t last_unit_dwords = 0;          // the dwords stored of a row's last unit (a partial one: fewer)
  int64_t group_bytes() const {
    if (elem_bytes) return (pairs ? (k + 1) / 2 * 2 : k) * group_rows * elem_bytes;
    return ((units - 1) * unit_dwords + last_unit_dwords) * group_rows * 4;
  }
  int64_t bytes() const { return groups * group_bytes(); }
};

// Whether a [rows, k] matrix of `dt` can be packed: F16 / BF16 / F32, or a block type whose 256 values
// are whole blocks (of up to 512 bytes).
bool packable(DType dt, int64_t k);

// A packed Q6_K unit: 53 dwords, d first (an F16 in the low half), then per half p (values
// 128 p .. 128 p + 127, 26 dwords) the scale word of its chunks 0-1 (sub-blocks 8 p .. 8 p + 3, one
// signed byte each), X (8 dwords), Y (8), the scale word of its chunks 2-3, Z (8). With c_j[l] the
// 6-bit code of value 128 p + 32 j + l (l < 32; ggml's q1 .. q4 of dequantize_row_q6_K):
//
//   X[l] = c_0[l] | (c_2[l] >> 4) << 6        c_0 = X & 63,  c_2 = (Z & 15) | (X >> 6) << 4
//   Y[l] = c_1[l] | (c_3[l] >> 4) << 6        c_1 = Y & 63,  c_3 = (Z >> 4) | (Y >> 6) << 4
//   Z[l] = (c_2[l] & 15) | (c_3[l] & 15) << 4
inline constexpr int kQ6KUnitDwords = 53;
// The packed dword of: d; the scale word of chunk c (0..7); dword i (0..7) of half p's X, Y, Z.
constexpr int q6k_packed_d() { return 0; }
constexpr int q6k_packed_scales(int c) { return 1 + 26 * (c / 4) + (c % 4 >= 2 ? 17 : 0); }
constexpr int q6k_packed_x(int p, int i) { return 2 + 26 * p + i; }
constexpr int q6k_packed_y(int p, int i) { return 10 + 26 * p + i; }
constexpr int q6k_packed_z(int p, int i) { return 19 + 26 * p + i; }
// One row's unit: the file's 210 bytes (ql, qh, scales, d) <-> the packed 53 dwords (the last 2
// bytes zero); q6k_unpack_unit inverts q6k_pack_unit.
void q6k_pack_unit(const uint8_t* file, uint32_t* packed);
void q6k_unpack_unit(const uint32_t* packed, uint8_t* file);

// A packed Q5_K unit: 44 dwords, in the order the decoder first reads them: d | dmin << 16 (the
// file's first dword), the file's 12 scale bytes (3 dwords), then runs A_0 .. A_3 and E (8 dwords
// each). With c_j[l] the 5-bit code of value 32 j + l (l < 32; the file's qs nibble and qh bit j):
//
//   A_j[l] = c_j[l] | (c_{4+j}[l] & 7) << 5        c_j     = A_j & 31                    (j < 4)
//   E[l]   = sum over j < 4 of (c_{4+j}[l] >> 3) << 2 j    c_{4+j} = (A_j >> 5) | ((E >> 2 j) & 3) << 3
inline constexpr int kQ5KUnitDwords = 44;
// The packed dword of the scale words (0..2), and dword i (0..7) of run A_j, of E.
constexpr int q5k_packed_scales(int w) { return 1 + w; }
constexpr int q5k_packed_a(int j, int i) { return 4 + 8 * j + i; }
constexpr int q5k_packed_e(int i) { return 36 + i; }
// One row's unit: the file's 176 bytes (d, dmin, scales, qh, qs) <-> the packed 44 dwords;
// q5k_unpack_unit inverts q5k_pack_unit.
void q5k_pack_unit(const uint8_t* file, uint32_t* packed);
void q5k_unpack_unit(const uint32_t* packed, uint8_t* file);

PackedShape packed_shape(DType dt, int64_t rows, int64_t k, int group_rows);

// The dwords of a planar unit (blocks of 32 values) that hold its first `blocks` blocks: the 8
// header slots, the 8 fifth-bit words, then those blocks' codes (head, qh, codes: bytes per
// block of each). What a row's partial last unit stores (the panel kernel computes the same).
constexpr int64_t planar_unit_dwords(int head, int qh, int codes, int64_t blocks) { return (8 * (head + qh) + codes * blocks + 3) / 4; }

// Groups [g0, g1) of the rows at `src` (row_bytes apart) into `dst` (packed_shape(...).bytes(),
// 64-byte aligned).
void pack_groups(const PackedShape& s, const uint8_t* src, int64_t g0, int64_t g1, uint8_t* dst);
// Row r of a packed matrix back as the file stored it (s.row_bytes bytes).
void unpack_row(const PackedShape& s, const uint8_t* packed, int64_t r, uint8_t* row);

// A matrix packed into memory of its own (64-byte aligned).
class PackedMatrix {
 public:
  explicit PackedMatrix(const PackedShape& shape);
  ~PackedMatrix();
  PackedMatrix(const PackedMatrix&) = delete;
  PackedMatrix& operator=(const PackedMatrix&) = delete;
  const PackedShape& shape() const { return shape_; }
  const uint8_t* data() const { return data_; }
  uint8_t* data() { return data_; }

 private:
  PackedShape shape_;
  uint8_t* data_ = nullptr;
};

// Runs task(i) for i in [0, n), possibly in parallel (the backend's thread pool).
using ParallelTasks = std::function<void(int64_t n, const std::function<void(int64_t)>& task)>;

// The 2-D matrix `t` (packable) packed in groups of group_rows, shared by every caller asking for
// the same matrix (same data, type, shape, group size) while one holds it: a model opened by
// a generator and an embedder is packed once. After packing, a memory-mapped source's pages
// leave the process (madvise MADV_DONTNEED on the read-only file mapping: they stay in the page
// cache, reread from it if ever read again), so packing a model matrix by matrix does not
// double its peak memory. Thread safe.
std::shared_ptr<const PackedMatrix> shared_packed_matrix(const Tensor& t, int group_rows, const ParallelTasks& parallel);

}  // namespace wick
