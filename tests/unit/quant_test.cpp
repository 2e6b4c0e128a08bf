// Block-quantized formats: bit layouts (hand-built blocks decode to the values the GGUF layout
// defines), quantize/dequantize round-trip error, and every ISA's integer kernels against the
// scalar reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/cpu_isa.h"
#include "backends/cpu/packed_weights.h"
#include "isa_params.h"
#include "core/quant.h"

namespace wick {
namespace {

constexpr uint16_t kOne = 0x3C00;  // 1.0 in IEEE half

// Every block-quantized type, the kinds of block a file may hold.
std::vector<DType> quantized_types() {
  std::vector<DType> out;
  for (DType t : kAllDTypes)
    if (dtype_info(t).quantized) out.push_back(t);
  return out;
}

TEST(Quant, Q8_0AndQ4_0LayoutsDecodeAsDefined) {
  BlockQ8_0 q8{};
  q8.d = 0x3800;  // 0.5
  for (int j = 0; j < 32; ++j) q8.qs[j] = static_cast<int8_t>(j - 16);
  std::vector<float> y(32);
  dequantize_row(DType::Q8_0, &q8, y.data(), 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[static_cast<size_t>(j)], 0.5f * static_cast<float>(j - 16));
  BlockQ4_0 q4{};
  q4.d = kOne;
  for (int j = 0; j < 16; ++j) q4.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  dequantize_row(DType::Q4_0, &q4, y.data(), 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[static_cast<size_t>(j)], static_cast<float>(j - 8)) << "byte j low nibble is value j";
    EXPECT_EQ(y[static_cast<size_t>(j + 16)], static_cast<float>(7 - j)) << "byte j high nibble is value j + 16";
  }
}

TEST(Quant, Q4_KScalesAndNibblesDecodeAsDefined) {
  BlockQ4_K b{};
  b.d = kOne;
  b.dmin = 0x3800;  // 0.5
  // 6-bit scales / mins 1..8 and 40..47: the upper four use the high bits of bytes 0..7.
  const int sc[8] = {1, 2, 3, 4, 37, 50, 63, 16}, m[8] = {40, 41, 42, 43, 44, 45, 46, 17};
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    b.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4));
  }
  for (int j = 0; j < 8; ++j) {
    int s, mm;
    q4k_scale_min(b.scales, j, &s, &mm);
    EXPECT_EQ(s, sc[j]);
    EXPECT_EQ(mm, m[j]);
  }
  for (int l = 0; l < 128; ++l) b.qs[l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
  std::vector<float> y(256);
  dequantize_row(DType::Q4_K, &b, y.data(), 256);
  // Value 64c + l (l < 32) is the low nibble of qs[32c + l] in sub-block 2c; 64c + 32 + l the high one.
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const uint8_t q = b.qs[32 * c + l];
      EXPECT_EQ(y[static_cast<size_t>(64 * c + l)], static_cast<float>(sc[2 * c] * (q & 15)) - 0.5f * static_cast<float>(m[2 * c]));
      EXPECT_EQ(y[static_cast<size_t>(64 * c + 32 + l)],
                static_cast<float>(sc[2 * c + 1] * (q >> 4)) - 0.5f * static_cast<float>(m[2 * c + 1]));
    }
}

TEST(Quant, Q6_KCodesAndScalesDecodeAsDefined) {
  BlockQ6_K b{};
  b.d = kOne;
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j - 8);
  // Value 128h + 32k + l: low 4 bits in ql[64h + l + 32(k&1)] (low nibble for k < 2), high 2
  // bits in qh[32h + l] at bit 2k. Give value v the code v % 64.
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k)
      for (int l = 0; l < 32; ++l) {
        const int v = 128 * h + 32 * k + l, code = v % 64;
        uint8_t& lo = b.ql[64 * h + l + 32 * (k & 1)];
        lo = static_cast<uint8_t>(k < 2 ? (lo & 0xF0) | (code & 15) : (lo & 0x0F) | ((code & 15) << 4));
        b.qh[32 * h + l] = static_cast<uint8_t>(b.qh[32 * h + l] | ((code >> 4) << (2 * k)));
      }
  std::vector<float> y(256);
  dequantize_row(DType::Q6_K, &b, y.data(), 256);
  for (int v = 0; v < 256; ++v) EXPECT_EQ(y[static_cast<size_t>(v)], static_cast<float>((v / 16 - 8) * (v % 64 - 32))) << v;
}

double relative_rms_error(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(dtype_row_bytes(t, x.size()));
  std::vector<float> y(x.size());
  quantize_row(t, x.data(), q.data(), static_cast<int64_t>(x.size()));
  dequantize_row(t, q.data(), y.data(), static_cast<int64_t>(x.size()));
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) e += (x[i] - y[i]) * (x[i] - y[i]), s += x[i] * x[i];
  return std::sqrt(e / s);
}

TEST(Quant, RoundTripErrorIsWithinEachFormatsBudget) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(4096);
  for (float& v : x) v = nd(rng);
  x[5] = 0.3f;  // an outlier, as real weights have
  const struct {
    DType t;
    double budget;
  } cases[] = {{DType::Q8_0, 0.01},   {DType::Q6_K, 0.05},   {DType::Q4_0, 0.13}, {DType::Q4_K, 0.11}, {DType::F16, 1e-3},
               {DType::BF16, 5e-3},   {DType::Q5_0, 0.07},   {DType::Q5_1, 0.05}, {DType::Q4_1, 0.11}, {DType::Q5_K, 0.05},
               {DType::IQ4_NL, 0.13}, {DType::IQ4_XS, 0.13}, {DType::Q3_K, 0.25}, {DType::Q2_K, 0.45}};
  for (const auto& c : cases) {
    const double e = relative_rms_error(c.t, x);
    std::printf("[quant] %-6s relative RMS error %.4f\n", dtype_name(c.t), e);
    EXPECT_LT(e, c.budget) << dtype_name(c.t);
  }
  std::vector<float> zeros(256, 0.0f);
  for (DType t : quantized_types()) {
    std::vector<uint8_t> q(dtype_row_bytes(t, 256));
    std::vector<float> y(256, 1.0f);
    quantize_row(t, zeros.data(), q.data(), 256);
    dequantize_row(t, q.data(), y.data(), 256);
    for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t) << ": zeros stay zeros (no NaN from a zero scale)";
  }
}

class QuantIsaTest : public ::testing::TestWithParam<CpuIsa> {};

// n = 1280: 5 whole 256-value units; n = 1376: 43 blocks of 32, so the 32-value types also
// take the path for blocks after the last whole unit.
void check_integer_kernels(const CpuKernels& k, int64_t n) {
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int tokens = 5;
  std::vector<float> x(static_cast<size_t>(n * tokens)), w(n);
  for (float& v : x) v = nd(rng);
  for (float& v : w) v = nd(rng) * 0.05f;
  x[3] = 9.0f;
  // Edge blocks of token 1: all zeros; values so small that amax / 127 underflows to 0 (the
  // reference writes zeros there: 127 / amax is infinite); exact halves, which round to even
  // (amax 127: 2.5 -> 2, -3.5 -> -4).
  for (int j = 0; j < 32; ++j) {
    x[n + j] = 0.0f;
    x[n + 32 + j] = (j % 2 ? -1.0f : 1.0f) * 1e-44f;
    x[n + 64 + j] = j == 0 ? 127.0f : (j % 2 ? 2.5f : -3.5f);
  }
  ActQ8Rows a, r;
  a.resize(tokens, n);
  r.resize(tokens, n);
  for (int t = 0; t < tokens; ++t) {
    k.quantize_act_q8(x.data() + t * n, n, a.row(t, n));
    quantize_act_q8_ref(x.data() + t * n, n, r.row(t, n));
    for (int64_t b = 0; b < n / 32; ++b) {
      ASSERT_EQ(a.row(t, n).d[b], r.row(t, n).d[b]);
      ASSERT_EQ(a.row(t, n).sum[b], r.row(t, n).sum[b]);
      ASSERT_EQ(a.row(t, n).dsum16[2 * b], r.row(t, n).dsum16[2 * b]);
      ASSERT_EQ(a.row(t, n).dsum16[2 * b + 1], r.row(t, n).dsum16[2 * b + 1]);
      ASSERT_EQ(a.row(t, n).dsum32[b], r.row(t, n).dsum32[b]);
      for (int j = 0; j < 32; ++j) ASSERT_EQ(a.row(t, n).q[32 * b + j], r.row(t, n).q[32 * b + j]);
    }
  }
  for (DType dt : quantized_types()) {
    if (n % dtype_info(dt).block_size != 0) continue;
    SCOPED_TRACE(std::string(dtype_name(dt)) + " n " + std::to_string(n));
    // Three rows: quantized, then with every code byte random (values a quantizer may never
    // write, such as -128 in Q8_0, all valid in a file), then all-zero scales.
    const uint64_t row_bytes = dtype_row_bytes(dt, n);
    std::vector<uint8_t> rows(3 * row_bytes);
    quantize_row(dt, w.data(), rows.data(), n);
    quantize_row(dt, w.data(), rows.data() + row_bytes, n);
    for (uint64_t i = 0; i < row_bytes; ++i)
      if (rng() % 3 == 0) rows[row_bytes + i] = static_cast<uint8_t>(rng() & 0x3F);  // small, so f16 scales stay finite
    if (dt == DType::Q8_0)  // -128 (|w| does not fit a signed byte) at a different place in every block
      for (int64_t b = 0; b < n / 32; ++b) rows[row_bytes + b * sizeof(BlockQ8_0) + 2 + b % 32] = 0x80;
    std::vector<float> zeros(n, 0.0f);
    quantize_row(dt, zeros.data(), rows.data() + 2 * row_bytes, n);
    std::vector<float> y(3 * tokens, NAN);
    if (!k.block_gemm_takes(dt, n)) {
      k.int8_gemm(rows.data(), dt, static_cast<int64_t>(row_bytes), 3, a.row(0, n), tokens, n, y.data(), 3);
    } else {
      std::vector<PanelChunk> panel(static_cast<size_t>(block_panel_bytes(n)) / sizeof(PanelChunk));
      k.block_gemm(rows.data(), dt, static_cast<int64_t>(row_bytes), 3, a.row(0, n), tokens, n, y.data(), 3, panel.data());
      // 1 and 2 tokens (4 with AVX-512's registers) take other paths (chunks decoded into
      // registers): the same bits as those tokens in the batch of 5 (a panel).
      for (int few : {1, 2, 4}) {
        std::vector<float> yf(3 * few, NAN);
        k.block_gemm(rows.data(), dt, static_cast<int64_t>(row_bytes), 3, a.row(0, n), few, n, yf.data(), 3, panel.data());
        for (size_t i = 0; i < yf.size(); ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(yf[i]), std::bit_cast<uint32_t>(y[i])) << few << " tokens, output " << i;
      }
      if (k.panel_rows > 0) {
        // The same rows packed at load (packed_weights.h): the same bits, and every row's bytes
        // read back as they were.
        ASSERT_TRUE(packable(dt, n));
        const PackedShape s = packed_shape(dt, 3, n, k.panel_rows);
        ASSERT_EQ(s.groups, 1);
        PackedMatrix packed(s);
        pack_groups(s, rows.data(), 0, s.groups, packed.data());
        std::vector<float> yp(3 * tokens, NAN);
        for (int m : {tokens, 1, 2, 4}) {
          k.packed_gemm(packed.data(), dt, 3, a.row(0, n), m, n, yp.data(), 3, panel.data());
          for (size_t i = 0; i < 3 * static_cast<size_t>(m); ++i)
            ASSERT_EQ(std::bit_cast<uint32_t>(yp[i]), std::bit_cast<uint32_t>(y[i])) << m << " tokens, output " << i;
        }
        std::vector<uint8_t> back(row_bytes);
        for (int r = 0; r < 3; ++r) {
          unpack_row(s, packed.data(), r, back.data());
          ASSERT_TRUE(std::equal(back.begin(), back.end(), rows.begin() + r * static_cast<int64_t>(row_bytes))) << "row " << r;
        }
      }
    }
    // Only the order of the float sums differs from the reference: within 1e-5 of the sum of the
    // terms' magnitudes (the random codes of row 1 make large terms that cancel).
    std::vector<float> wd(n);
    for (int i = 0; i < 3; ++i) {
      dequantize_row(dt, rows.data() + i * row_bytes, wd.data(), n);
      for (int t = 0; t < tokens; ++t) {
        double mag = 0;
        for (int64_t j = 0; j < n; ++j)
          mag += std::fabs(static_cast<double>(wd[static_cast<size_t>(j)]) * x[static_cast<size_t>(t * n + j)]);
        const float ref = dot_act_ref(dt, rows.data() + i * row_bytes, r.row(t, n), n);
        ASSERT_NEAR(y[static_cast<size_t>(t * 3 + i)], ref, 1e-5 * (1 + mag)) << "row " << i << " token " << t;
      }
    }
    // And the integer path approximates the float dot product of the dequantized weights.
    dequantize_row(dt, rows.data(), wd.data(), n);
    double exact = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i)
      exact += static_cast<double>(wd[static_cast<size_t>(i)]) * x[static_cast<size_t>(i)],
          mag += std::fabs(wd[static_cast<size_t>(i)] * x[static_cast<size_t>(i)]);
    EXPECT_NEAR(dot_act_ref(dt, rows.data(), r.row(0, n), n), exact, 0.01 * mag);
  }
}

TEST_P(QuantIsaTest, IntegerKernelsMatchReference) {
  WICK_REQUIRE_ISA(GetParam());
  for (int64_t n : {1280, 1376}) check_integer_kernels(cpu_kernels(GetParam()), n);
}

// rows rows packed at load against the same rows stored (PackedGroupsMatchStoredRows).
void check_packed_groups(const CpuKernels& k, const int rows) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  for (int64_t n : {1376, 1280}) {
    const int max_tokens = 9;
    std::vector<float> x(static_cast<size_t>(n * max_tokens)), w(static_cast<size_t>(n * rows));
    for (float& v : x) v = nd(rng);
    for (float& v : w) v = nd(rng) * 0.05f;
    ActQ8Rows a;
    a.resize(max_tokens, n);
    for (int t = 0; t < max_tokens; ++t) k.quantize_act_q8(x.data() + t * n, n, a.row(t, n));
    std::vector<PanelChunk> panel(static_cast<size_t>(block_panel_bytes(n)) / sizeof(PanelChunk));
    for (DType dt : quantized_types()) {
      if (!packable(dt, n) || !k.block_gemm_takes(dt, n)) continue;
      SCOPED_TRACE(std::string(dtype_name(dt)) + " n " + std::to_string(n));
      const auto row_bytes = static_cast<int64_t>(dtype_row_bytes(dt, static_cast<uint64_t>(n)));
      std::vector<uint8_t> stored(static_cast<size_t>(rows * row_bytes));
      for (int r = 0; r < rows; ++r) quantize_row(dt, w.data() + r * n, stored.data() + r * row_bytes, n);
      const PackedShape s = packed_shape(dt, rows, n, k.panel_rows);
      ASSERT_EQ(s.groups, (rows + k.panel_rows - 1) / k.panel_rows);
      const int64_t whole_units = s.units * s.unit_dwords * s.group_rows * 4;
      if (dtype_info(dt).block_size == 32 && n % 256 != 0)
        EXPECT_LT(s.group_bytes(), whole_units);  // the partial unit stored short
      else
        EXPECT_EQ(s.group_bytes(), whole_units);
      PackedMatrix packed(s);
      pack_groups(s, stored.data(), 0, s.groups, packed.data());
      for (int m : {1, 2, 3, 4, 5, 9}) {
        std::vector<float> y(static_cast<size_t>(rows * m), NAN), yp(static_cast<size_t>(rows * m), NAN);
        k.block_gemm(stored.data(), dt, row_bytes, rows, a.row(0, n), m, n, y.data(), rows, panel.data());
        k.packed_gemm(packed.data(), dt, rows, a.row(0, n), m, n, yp.data(), rows, panel.data());
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_FALSE(std::isnan(y[i])) << m << " tokens, output " << i;
          ASSERT_EQ(std::bit_cast<uint32_t>(yp[i]), std::bit_cast<uint32_t>(y[i])) << m << " tokens, output " << i;
        }
      }
      std::vector<uint8_t> back(static_cast<size_t>(row_bytes));
      for (int r = 0; r < rows; ++r) {
        unpack_row(s, packed.data(), r, back.data());
        ASSERT_TRUE(std::equal(back.begin(), back.end(), stored.begin() + r * row_bytes)) << "row " << r;
      }
    }
  }
}

// Matrices of several row groups packed at load: the same bits as their stored rows, for every
// path (register tiles, groups side by side, small batches, prefill panels), and every row read
// back. k = 1376 ends each row in a partial unit of 3 blocks of 32, which a packed group stores
// only that far: the groups are then shorter than whole units, and the kernel must step over
// them as packed. 3, 4 and 6 groups, the last partial or whole: decode takes up to 4 side by side.
TEST_P(QuantIsaTest, PackedGroupsMatchStoredRows) {
  WICK_REQUIRE_ISA(GetParam());
  const CpuKernels& k = cpu_kernels(GetParam());
  if (k.panel_rows == 0) GTEST_SKIP() << "no packed kernels on " << cpu_isa_name(GetParam());
  for (const int rows : {2 * k.panel_rows + 3, 4 * k.panel_rows, 5 * k.panel_rows + 3}) {
    SCOPED_TRACE(std::to_string(rows) + " rows");
    check_packed_groups(k, rows);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, QuantIsaTest, ::testing::ValuesIn(test::every_cpu_isa()),
                         [](const auto& info) { return std::string(cpu_isa_name(info.param)); });

}  // namespace
}  // namespace wick
