// Every backend op, on every backend (the CPU on each instruction set it has kernels for), against
// the scalar reference backend, for every weight dtype: tests take a backend factory
// (test::BackendCase), so a new backend runs these same tests with its own tolerance.
#include <gtest/gtest.h>

#include "core/quant.h"

#include <array>
#include <cmath>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "backends/cpu/cpu_isa.h"
#include "backends/cpu/memory_bandwidth.h"
#include "isa_params.h"
#include "on_backend.h"

namespace wick {
namespace {

using test::OnBackend;
using test::PlacedTensor;

::testing::Environment* const kIsaReport = ::testing::AddGlobalTestEnvironment(new test::IsaReport);

struct OwnedTensor {
  std::vector<uint8_t> bytes;
  Tensor t;
};

OwnedTensor random_tensor(DType dt, int64_t rows, int64_t cols, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> u(-scale, scale);
  OwnedTensor o;
  o.bytes.resize(dtype_row_bytes(dt, static_cast<uint64_t>(rows * cols)));
  for (int64_t i = 0; i < rows * cols; ++i) {
    const float v = u(rng);
    if (dt == DType::F32)
      std::memcpy(o.bytes.data() + i * 4, &v, 4);
    else {
      const uint16_t h = dt == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
      std::memcpy(o.bytes.data() + i * 2, &h, 2);
    }
  }
  o.t.dtype = dt;
  o.t.ndim = rows == 1 ? 1 : 2;
  o.t.shape = rows == 1 ? std::array<int64_t, 4>{cols, 0, 0, 0} : std::array<int64_t, 4>{rows, cols, 0, 0};
  o.t.data = o.bytes.data();
  return o;
}

std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// A [rows, cols] matrix of random values in (-1, 1) quantized to the block type `dt`.
OwnedTensor quantized_tensor(DType dt, int64_t rows, int64_t cols, std::mt19937& rng) {
  const auto wf = random_vec(static_cast<size_t>(rows * cols), rng);
  OwnedTensor w;
  w.bytes.resize(dtype_row_bytes(dt, static_cast<uint64_t>(rows * cols)));
  for (int64_t r = 0; r < rows; ++r) quantize_row(dt, wf.data() + r * cols, w.bytes.data() + r * dtype_row_bytes(dt, cols), cols);
  w.t = Tensor{.dtype = dt, .ndim = 2, .shape = {rows, cols, 0, 0}, .data = w.bytes.data()};
  return w;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * std::max(1.0f, std::fabs(b[i]))) << what << " at " << i;
}

class KernelTest : public ::testing::TestWithParam<std::tuple<test::BackendCase, DType>> {};

TEST_P(KernelTest, MatmulMatchesReferenceAndIsBatchInvariant) {
  const auto& [be, dt] = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(3);
  auto ref = make_reference_backend();
  std::mt19937 rng(1);
  for (auto [rows, cols, n] :
       {std::tuple{37, 70, 1}, std::tuple{64, 128, 5}, std::tuple{5, 3, 2}, std::tuple{130, 33, 17}, std::tuple{37, 1100, 9}}) {
    cpu->reserve(cols, 16, 64);
    auto w = random_tensor(dt, rows, cols, rng);
    auto b = random_tensor(dt, 1, rows, rng);
    auto x = random_vec(static_cast<size_t>(n * cols), rng);
    PlacedTensor wc(*cpu, w.t), bc(*cpu, b.t), wr(*ref, w.t), br(*ref, b.t);
    OnBackend<float> xc(*cpu, x), xr(*ref, x), y1c(*cpu, static_cast<size_t>(n * rows)), y2r(*ref, static_cast<size_t>(n * rows));
    cpu->matmul(y1c(), xc(), n, wc.t, &bc.t);
    ref->matmul(y2r(), xr(), n, wr.t, &br.t);
    const std::vector<float> y1 = y1c.host();
    std::vector<float> y2 = y2r.host();
    expect_close(y1, y2, 1e-5 * be.tol, "matmul");
    // Batch invariance: each token alone gives the same bits as in the batch (F16 / BF16 are
    // packed at placement where the ISA has the float panel kernel: one token takes wider
    // tiles than a batch, on the same chains).
    OnBackend<float> onec(*cpu, static_cast<size_t>(rows));
    for (int t = 0; t < n; ++t) {
      cpu->matmul(onec(), xc(t * cols), 1, wc.t, &bc.t);
      const std::vector<float> one = onec.host();
      for (int r = 0; r < rows; ++r)
        ASSERT_EQ(one[static_cast<size_t>(r)], y1[static_cast<size_t>(t * rows + r)]) << "token " << t << " alone vs in a batch of " << n;
    }
    // strided output, no bias
    OnBackend<float> y3c(*cpu, static_cast<size_t>(n * (rows + 3)), -7.0f);
    cpu->matmul(y3c(), xc(), n, wc.t, nullptr, rows + 3);
    ref->matmul(y2r(), xr(), n, wr.t, nullptr);
    const std::vector<float> y3 = y3c.host();
    y2 = y2r.host();
    for (int t = 0; t < n; ++t)
      for (int r = 0; r < rows; ++r)
        ASSERT_NEAR(y3[static_cast<size_t>(t * (rows + 3) + r)], y2[static_cast<size_t>(t * rows + r)], 1e-4 * be.tol);
    EXPECT_EQ(y3[static_cast<size_t>(rows)], -7.0f) << "padding between strided rows untouched";
  }
}

TEST_P(KernelTest, EmbedAndNormMatchReference) {
  const auto& [be, dt] = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(2);
  auto table = random_tensor(dt, 50, 24, rng);
  const std::vector<int32_t> ids = {0, 49, 7, 7};
  PlacedTensor tc(*cpu, table.t), tr(*ref, table.t);
  OnBackend<int32_t> idc(*cpu, ids), idr(*ref, ids);
  OnBackend<float> ac(*cpu, 4 * 24), br(*ref, 4 * 24);
  cpu->embed(ac(), tc.t, idc(), 4);
  ref->embed(br(), tr.t, idr(), 4);
  const std::vector<float> a = ac.host();
  expect_close(a, br.host(), 0, "embed");
  auto g = random_tensor(dt, 1, 24, rng);
  PlacedTensor gc(*cpu, g.t), gr(*ref, g.t);
  OnBackend<float> nac(*cpu, a.size()), nbr(*ref, a.size()), ar(*ref, a);
  cpu->rms_norm(nac(), ac(), 4, 24, gc.t, 1e-6f);
  ref->rms_norm(nbr(), ar(), 4, 24, gr.t, 1e-6f);
  expect_close(nac.host(), nbr.host(), 1e-5 * be.tol, "rms_norm");
  // Gemma's norms scale by (1 + weight).
  OnBackend<float> gemma_c(*cpu, a.size()), gemma_r(*ref, a.size());
  cpu->rms_norm(gemma_c(), ac(), 4, 24, gc.t, 1e-6f, 1.0f);
  ref->rms_norm(gemma_r(), ar(), 4, 24, gr.t, 1e-6f, 1.0f);
  expect_close(gemma_c.host(), gemma_r.host(), 1e-5 * be.tol, "rms_norm with weight offset 1");
  EXPECT_NE(gemma_c.host(), nac.host());
  // Qwen3's q/k norms run in place, over rows of head_dim.
  cpu->rms_norm(ac(), ac(), 4, 24, gc.t, 1e-6f);
  EXPECT_EQ(ac.host(), nac.host()) << "rms_norm in place differs from out of place";
}

INSTANTIATE_TEST_SUITE_P(EveryBackendAndDtype, KernelTest,
                         ::testing::Combine(::testing::ValuesIn(test::every_backend()),
                                            ::testing::Values(DType::F32, DType::F16, DType::BF16)),
                         [](const auto& info) { return std::get<0>(info.param).name + "_" + dtype_name(std::get<1>(info.param)); });

// Block-quantized weights of every type: on the CPU through the integer kernels (activations
// quantized to 8 bits, so against the scalar integer reference), on the reference backend
// through dequantization (within float rounding of the decoded weights). Every type: a row's
// result is the same bits in a batch of 13 as alone (batch invariance).
class QuantMatmulTest : public ::testing::TestWithParam<std::tuple<test::BackendCase, DType>> {};

TEST_P(QuantMatmulTest, MatchesReferenceAndIsBatchInvariant) {
  const auto& [be, dt] = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(9);
  // 37 rows: whole row groups of the panel kernel (16 on AVX-512 VNNI, 8 on AVX2) and a partial one; 13
  // tokens: that kernel's tiles of 8, 4 and 1 over a panel decoded once, against one token
  // alone (decoded unit by unit). Rows of 512 values (whole 256-value units), and for the
  // 32-value block types of 352 too (a unit and 3 blocks: the panel kernel's partial unit).
  const int rows = 37, n = 13;
  std::vector<int> widths = {512};
  if (dtype_info(dt).block_size == 32) widths.push_back(352);
  cpu->reserve(2 * 512, 16, 16);  // wider rows reserved than used: activation rows are packed by their own width
  for (const int cols : widths) {
    SCOPED_TRACE("rows of " + std::to_string(cols));
    const OwnedTensor w = quantized_tensor(dt, rows, cols, rng);
    auto b = random_tensor(DType::F32, 1, rows, rng);
    auto x = random_vec(static_cast<size_t>(n * cols), rng);
    PlacedTensor wc(*cpu, w.t), bc(*cpu, b.t), wr(*ref, w.t), br(*ref, b.t);
    OnBackend<float> xc(*cpu, x), xr(*ref, x), y1c(*cpu, static_cast<size_t>(n * rows)), y2r(*ref, static_cast<size_t>(n * rows));
    OnBackend<float> onec(*cpu, static_cast<size_t>(rows));
    cpu->matmul(y1c(), xc(), n, wc.t, &bc.t);
    ref->matmul(y2r(), xr(), n, wr.t, &br.t);
    const std::vector<float> y1 = y1c.host(), y2 = y2r.host();
    // The CPU against the scalar int8 reference (activations quantized as the kernels do, exact
    // integer sums per half block, double accumulation): only the float scaling and the order of
    // the sums differ, so 1e-5 of the sum of the terms' magnitudes bounds the difference. The
    // reference backend against a double-precision dot of the decoded weights (dequantize_row is
    // itself checked against gguf-py's decoder in quant_fixture_test.cpp).
    std::vector<float> wd(static_cast<size_t>(cols));
    ActQ8Rows acts;
    acts.resize(1, cols);
    for (int t = 0; t < n; ++t) {
      const ActQ8Row act = acts.row(0, cols);
      quantize_act_q8_ref(x.data() + t * cols, cols, act);
      for (int r = 0; r < rows; ++r) {
        const void* row = w.bytes.data() + r * dtype_row_bytes(dt, cols);
        dequantize_row(dt, row, wd.data(), cols);
        double dot = 0, mag = 0;
        for (int i = 0; i < cols; ++i) {
          const double term = static_cast<double>(wd[static_cast<size_t>(i)]) * x[static_cast<size_t>(t * cols + i)];
          dot += term;
          mag += std::fabs(term);
        }
        const double bias = static_cast<const float*>(b.t.data)[r];
        const size_t at = static_cast<size_t>(t * rows + r);
        ASSERT_NEAR(y1[at], static_cast<double>(dot_act_ref(dt, row, act, cols)) + bias, 1e-5 * be.tol * (mag + 1))
            << dtype_name(dt) << " row " << r << " token " << t;
        ASSERT_NEAR(y2[at], dot + bias, 1e-5 * (mag + 1)) << "the reference backend, row " << r;
        // The integer path approximates the float product within the activation rounding.
        ASSERT_NEAR(y1[at], dot + bias, 0.02 * (mag + 1)) << dtype_name(dt) << " row " << r << " token " << t;
      }
    }
    for (int t = 0; t < n; ++t) {
      cpu->matmul(onec(), xc(t * cols), 1, wc.t, &bc.t);
      const std::vector<float> one = onec.host();
      for (int r = 0; r < rows; ++r)
        ASSERT_EQ(one[static_cast<size_t>(r)], y1[static_cast<size_t>(t * rows + r)]) << "row " << t << " alone vs in a batch";
    }
    // Embedding lookup of a quantized table: exactly the decoded rows asked for, in order.
    const std::vector<int32_t> ids = {3, 36, 3};
    OnBackend<int32_t> idc(*cpu, ids);
    OnBackend<float> e1(*cpu, 3 * cols);
    std::vector<float> want(3 * cols);
    cpu->embed(e1(), wc.t, idc(), 3);
    for (int k = 0; k < 3; ++k) dequantize_row(dt, w.bytes.data() + ids[k] * dtype_row_bytes(dt, cols), want.data() + k * cols, cols);
    EXPECT_EQ(e1.host(), want);
  }
}

// Where the CPU backend packs block-quantized matrices at placement, backends placing the same
// matrix share one packed copy (a generator and an embedder on one model), alive while one holds it.
TEST(PackedWeights, BackendsPlacingTheSameMatrixShareOnePackedCopy) {
  const CpuIsa isa = best_cpu_isa();
  if (cpu_kernels(isa).panel_rows == 0) GTEST_SKIP() << "no panel kernel on " << cpu_isa_name(isa);
  std::vector<uint8_t> bytes(20 * dtype_row_bytes(DType::Q8_0, 256), 0x11);  // the values do not matter here
  const Tensor w{.dtype = DType::Q8_0, .ndim = 2, .shape = {20, 256, 0, 0}, .data = bytes.data()};
  std::vector<BackendBuffer> owned;
  auto a = make_cpu_backend_for_isa(1, isa), b = make_cpu_backend_for_isa(1, isa);
  const Tensor pa = a->place_weight(w, owned), pb = b->place_weight(w, owned);
  EXPECT_TRUE(pa.packed);
  EXPECT_NE(pa.data, w.data);
  EXPECT_EQ(pa.data, pb.data);
  const Tensor row{.dtype = DType::Q8_0, .ndim = 1, .shape = {256, 0, 0, 0}, .data = bytes.data()};
  EXPECT_FALSE(a->place_weight(row, owned).packed) << "vectors stay as stored";
}

// A backend told it runs whole prompts only (EngineOptions::decodes = false) reads
// block-quantized matrices as stored, skipping their packing's load time; F16 is still packed
// (its prefill kernel reads the packed layout).
TEST(PackedWeights, PromptOnlyBackendsReadBlockTypesAsStored) {
  const CpuIsa isa = best_cpu_isa();
  if (cpu_kernels(isa).panel_rows == 0) GTEST_SKIP() << "no panel kernel on " << cpu_isa_name(isa);
  std::vector<uint8_t> q8(20 * dtype_row_bytes(DType::Q8_0, 256), 0x11), f16(20 * 256 * 2, 0x11);
  const Tensor wq{.dtype = DType::Q8_0, .ndim = 2, .shape = {20, 256, 0, 0}, .data = q8.data()};
  const Tensor wf{.dtype = DType::F16, .ndim = 2, .shape = {20, 256, 0, 0}, .data = f16.data()};
  std::vector<BackendBuffer> owned;
  auto be = make_cpu_backend_for_isa(1, isa);
  be->set_decodes(false);
  const Tensor pq = be->place_weight(wq, owned);
  EXPECT_FALSE(pq.packed);
  EXPECT_EQ(pq.data, wq.data);
  EXPECT_TRUE(be->place_weight(wf, owned).packed);
}

INSTANTIATE_TEST_SUITE_P(EveryBackendAndQuantType, QuantMatmulTest,
                         ::testing::Combine(::testing::ValuesIn(test::every_backend()),
                                            ::testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,
                                                              DType::IQ4_NL, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                                              DType::Q6_K, DType::IQ4_XS)),
                         [](const auto& info) { return std::get<0>(info.param).name + "_" + dtype_name(std::get<1>(info.param)); });

class OpTest : public ::testing::TestWithParam<test::BackendCase> {};

// Products of one input computed together (q / k / v, gate / up) give each product's matmul
// bits: weights of different types (block-quantized ones sharing one quantization of the input,
// packed and stored float ones), biases converted from BF16 side by side, more products than
// one pass takes, for one token and a batch.
TEST_P(OpTest, MatmulsOfOneInputEqualEachMatmul) {
  const auto& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  std::mt19937 rng(21);
  const int cols = 512;
  const std::vector<std::pair<DType, int>> kinds = {
      {DType::Q4_K, 40}, {DType::Q6_K, 24}, {DType::F16, 72}, {DType::Q8_0, 17}, {DType::F32, 9}};
  std::vector<OwnedTensor> ws, bs;
  for (const auto& [dt, rows] : kinds) {
    ws.push_back(dtype_info(dt).quantized ? quantized_tensor(dt, rows, cols, rng) : random_tensor(dt, rows, cols, rng));
    bs.push_back(random_tensor(DType::BF16, 1, rows, rng));
  }
  cpu->reserve(cols, 16, 16);
  std::vector<PlacedTensor> wp, bp;
  for (size_t i = 0; i < kinds.size(); ++i) {
    wp.emplace_back(*cpu, ws[i].t);
    bp.emplace_back(*cpu, bs[i].t);
  }
  for (const int n : {1, 13}) {
    const auto x = random_vec(static_cast<size_t>(n * cols), rng);
    OnBackend<float> xc(*cpu, x);
    std::vector<OnBackend<float>> together, alone;
    std::vector<Backend::Product> products;
    for (size_t i = 0; i < kinds.size(); ++i) {
      together.emplace_back(*cpu, static_cast<size_t>(n * kinds[i].second));
      alone.emplace_back(*cpu, static_cast<size_t>(n * kinds[i].second));
    }
    for (size_t i = 0; i < kinds.size(); ++i) products.push_back({together[i](), &wp[i].t, i == 2 ? nullptr : &bp[i].t});
    cpu->matmuls(products, xc(), n);
    for (size_t i = 0; i < kinds.size(); ++i) {
      cpu->matmul(alone[i](), xc(), n, wp[i].t, i == 2 ? nullptr : &bp[i].t);
      EXPECT_EQ(together[i].host(), alone[i].host()) << dtype_name(kinds[i].first) << ", " << n << " tokens";
    }
  }
}

TEST_P(OpTest, RopeSiluAddMatchReference) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(3);
  const int n = 3, heads = 2, hd = 8, stride = 20;
  for (int rot : {hd, 4}) {  // whole heads, and StableLM's partial rotary (the last hd - rot values pass through)
    auto x = random_vec(n * stride, rng), cs = random_vec(n * rot / 2, rng), sn = random_vec(n * rot / 2, rng);
    OnBackend<float> xc(*cpu, x), xr(*ref, x), csc(*cpu, cs), csr(*ref, cs), snc(*cpu, sn), snr(*ref, sn);
    cpu->rope(xc(), n, heads, hd, rot, stride, csc(), snc());
    ref->rope(xr(), n, heads, hd, rot, stride, csr(), snr());
    const std::vector<float> got = xc.host();
    expect_close(got, xr.host(), 1e-6 * be.tol, "rope of " + std::to_string(rot) + " dims");
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < heads; ++h)
        for (int i = rot; i < hd; ++i) {
          const size_t at = static_cast<size_t>(t * stride + h * hd + i);
          ASSERT_EQ(got[at], x[at]) << "unrotated value changed";
        }
    for (int i = heads * hd; i < stride; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], x[static_cast<size_t>(i)]) << "row padding changed";
  }
  auto u = random_vec(40000, rng);
  OnBackend<float> uc(*cpu, u), ur(*ref, u), gc(*cpu, 40000), gr(*ref, 40000);
  for (Activation act : {Activation::kSilu, Activation::kRelu, Activation::kGelu, Activation::kGeluTanh}) {
    auto g = random_vec(40000, rng);
    for (auto& v : g) v *= 6.0f;  // both tails
    gc.set(g);
    gr.set(g);
    cpu->gated_activation(gc(), uc(), 40000, act);
    ref->gated_activation(gr(), ur(), 40000, act);
    expect_close(gc.host(), gr.host(), 1e-6 * be.tol, std::string("gated_activation ") + activation_name(act));
    // A value's result does not depend on how many values share the call (vector tails).
    const std::vector<float> whole = gc.host();
    for (int n : {1, 37}) {
      gc.set(g);
      cpu->gated_activation(gc(), uc(), n, act);
      const std::vector<float> part = gc.host();
      for (int i = 0; i < n; ++i)
        ASSERT_EQ(part[static_cast<size_t>(i)], whole[static_cast<size_t>(i)]) << activation_name(act) << " of " << n;
      ASSERT_EQ(part[static_cast<size_t>(n)], g[static_cast<size_t>(n)]) << "past the end";
    }
    gc.set(whole);  // the ops below continue from the whole result
  }
  cpu->add(gc(), uc(), 40000);
  ref->add(gr(), ur(), 40000);
  expect_close(gc.host(), gr.host(), 1e-6 * be.tol, "add");
  cpu->scale(gc(), 40000, 7.5f);
  ref->scale(gr(), 40000, 7.5f);
  expect_close(gc.host(), gr.host(), 1e-6 * be.tol, "scale");
  cpu->softcap(gc(), 40000, 3.0f);  // values up to ~50: both the linear middle and the flat tails
  ref->softcap(gr(), 40000, 3.0f);
  const std::vector<float> capped = gc.host();
  expect_close(capped, gr.host(), 1e-6 * be.tol, "softcap");
  for (float v : capped) ASSERT_LE(std::fabs(v), 3.0f);
}

// The energy head's ops: activations and LayerNorm against the double-precision reference, and
// a row's result independent of the batch it is in.
TEST_P(OpTest, ActivationsAndLayerNormMatchReference) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(5);
  for (Activation act : {Activation::kSilu, Activation::kRelu, Activation::kGelu, Activation::kGeluTanh}) {
    auto x = random_vec(40000, rng);
    for (auto& v : x) v *= 6.0f;  // both tails
    OnBackend<float> xc(*cpu, x), xr(*ref, x);
    cpu->activation(xc(), 40000, act);
    ref->activation(xr(), 40000, act);
    expect_close(xc.host(), xr.host(), 1e-6 * be.tol, std::string("activation ") + activation_name(act));
  }
  const int n = 5, dim = 300;
  auto x = random_vec(n * dim, rng);
  for (int i = 0; i < dim; ++i) x[static_cast<size_t>(i)] += 3.0f;                                     // a row with a large mean
  OwnedTensor w = random_tensor(DType::F32, 1, dim, rng), b = random_tensor(DType::F32, 1, dim, rng);  // 1-D
  PlacedTensor wc(*cpu, w.t), bc(*cpu, b.t), wr(*ref, w.t), br(*ref, b.t);
  OnBackend<float> xc(*cpu, x), xr(*ref, x), y1c(*cpu, x.size()), y2r(*ref, x.size()), onec(*cpu, static_cast<size_t>(dim));
  cpu->layer_norm(y1c(), xc(), n, dim, wc.t, &bc.t, 1e-5f);
  ref->layer_norm(y2r(), xr(), n, dim, wr.t, &br.t, 1e-5f);
  const std::vector<float> y1 = y1c.host();
  expect_close(y1, y2r.host(), 1e-5 * be.tol, "layer_norm");
  cpu->layer_norm(onec(), xc(3 * dim), 1, dim, wc.t, &bc.t, 1e-5f);
  EXPECT_EQ(0, std::memcmp(onec.host().data(), y1.data() + 3 * dim, sizeof(float) * dim)) << "batch invariant";
  cpu->layer_norm(y1c(), xc(), n, dim, wc.t, nullptr, 1e-5f);
  ref->layer_norm(y2r(), xr(), n, dim, wr.t, nullptr, 1e-5f);
  expect_close(y1c.host(), y2r.host(), 1e-5 * be.tol, "layer_norm without bias");
}

// Attention on `be` with every array uploaded: k/v are the block pools (cache_bytes each, of
// dtype dt), tables[s] is sequence s's block table and seq[t] the sequence of query t.
struct AttentionCase {
  std::vector<float> q;
  std::vector<int32_t> positions, seq;
  std::vector<std::vector<int32_t>> tables;
  int block_size, heads, kv_heads, head_dim, window;
  float scale;
  DType dt = DType::F32;
  float softcap = 0;
};

// n queries at positions first .. first + n - 1 of one sequence, over a contiguous cache of
// ctx rows (a single block).
AttentionCase contiguous_case(std::vector<float> q, int n, int first, int ctx, int heads, int kv_heads, int head_dim, float scale) {
  AttentionCase c{.q = std::move(q),
                  .seq = std::vector<int32_t>(static_cast<size_t>(n), 0),
                  .tables = {{0}},
                  .block_size = ctx,
                  .heads = heads,
                  .kv_heads = kv_heads,
                  .head_dim = head_dim,
                  .window = 0,
                  .scale = scale};
  for (int t = 0; t < n; ++t) c.positions.push_back(first + t);
  return c;
}

// Keys or values of ctx positions as the model computes them, [ctx][kv_heads * head_dim], laid
// out as the cache keeps one block of ctx positions: [kv_heads][ctx][head_dim] (KvLayout).
template <typename T>
std::vector<T> one_block_cache(const std::vector<T>& rows, int ctx, int kv_heads, int head_dim) {
  std::vector<T> cache(rows.size());
  for (int j = 0; j < ctx; ++j)
    for (int h = 0; h < kv_heads; ++h)
      for (int d = 0; d < head_dim; ++d)
        cache[static_cast<size_t>((h * ctx + j) * head_dim + d)] = rows[static_cast<size_t>((j * kv_heads + h) * head_dim + d)];
  return cache;
}

std::vector<float> attend_on(Backend& be, const AttentionCase& c, const void* k, const void* v, size_t cache_bytes) {
  const int n = static_cast<int>(c.positions.size());
  int stride = 0;
  for (const auto& t : c.tables) stride = std::max(stride, static_cast<int>(t.size()));
  std::vector<int32_t> flat(c.tables.size() * static_cast<size_t>(stride), -1);
  for (size_t s = 0; s < c.tables.size(); ++s) std::copy(c.tables[s].begin(), c.tables[s].end(), flat.begin() + s * stride);
  BackendBuffer kb(be, cache_bytes), vb(be, cache_bytes);
  be.upload(kb.ref(), k, cache_bytes);
  be.upload(vb.ref(), v, cache_bytes);
  OnBackend<float> q(be, c.q), out(be, c.q.size());
  OnBackend<int32_t> pos(be, c.positions), seq(be, c.seq), tables(be, flat);
  be.attention({.out = out(),
                .q = q(),
                .k_cache = kb.ref(),
                .v_cache = vb.ref(),
                .n_tokens = n,
                .positions = pos(),
                .seq = seq(),
                .block_tables = tables(),
                .table_stride = stride,
                .block_size = c.block_size,
                .n_heads = c.heads,
                .n_kv_heads = c.kv_heads,
                .head_dim = c.head_dim,
                .window = c.window,
                .scale = c.scale,
                .softcap = c.softcap,
                .kv_dtype = c.dt});
  return out.host();
}

TEST_P(OpTest, AttentionMatchesReferenceWithGqaAndWindow) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(3);
  auto ref = make_reference_backend();
  std::mt19937 rng(4);
  const int heads = 4, kvh = 2, hd = 16, ctx = 40, n = 6, pos0 = 20;
  cpu->reserve(64, ctx, 64);
  auto q = random_vec(n * heads * hd, rng);
  const auto k = one_block_cache(random_vec(ctx * kvh * hd, rng), ctx, kvh, hd),
             v = one_block_cache(random_vec(ctx * kvh * hd, rng), ctx, kvh, hd);
  AttentionCase c = contiguous_case(q, n, pos0, ctx, heads, kvh, hd, 0.25f);
  for (float softcap : {0.0f, 0.5f})  // Gemma 2's soft-capped scores: a small cap bends them all
    for (int window : {0, 1, 5, 100}) {
      c.window = window;
      c.softcap = softcap;
      expect_close(attend_on(*cpu, c, k.data(), v.data(), k.size() * 4), attend_on(*ref, c, k.data(), v.data(), k.size() * 4),
                   1e-5 * be.tol, "attention window " + std::to_string(window) + " softcap " + std::to_string(softcap));
    }
}

// Long spans (many key groups, several tiles of queries, GQA groups of 7 as in Qwen2.5-0.5B,
// a head_dim that is padded): the tiled online softmax still matches the reference's two passes.
// The second shape is MHA (one query head per KV head), whose scores the kernel takes as row dot
// products where GQA groups of 7 transpose their keys.
TEST_P(OpTest, AttentionOverLongSpansMatchesReference) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(14);
  for (const auto [heads, kvh, hd] : {std::array{14, 2, 40}, std::array{3, 3, 40}}) {
    const int ctx = 700, n = 45, pos0 = ctx - n;
    cpu->reserve(64, ctx, 64);
    auto q = random_vec(n * heads * hd, rng);
    const auto k = one_block_cache(random_vec(ctx * kvh * hd, rng), ctx, kvh, hd);
    const auto v = one_block_cache(random_vec(ctx * kvh * hd, rng), ctx, kvh, hd);
    for (auto& x : q) x *= 3.0f;  // peaked softmaxes: the running max moves
    AttentionCase c = contiguous_case(q, n, pos0, ctx, heads, kvh, hd, 0.2f);
    for (int window : {0, 100}) {
      c.window = window;
      expect_close(attend_on(*cpu, c, k.data(), v.data(), k.size() * 4), attend_on(*ref, c, k.data(), v.data(), k.size() * 4),
                   1e-5 * be.tol, "long attention, " + std::to_string(heads) + " heads, window " + std::to_string(window));
    }
  }
}

// A head_dim narrower than the kernel's padded row (40: padded to 48 on every ISA) is widened
// before use, never read past its end: the cache rows after the last position attended hold NaN,
// which a read past a row would carry into the scores.
TEST_P(OpTest, PaddedHeadRowsAreNotReadPastTheirEnd) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(16);
  const int heads = 3, kvh = 1, hd = 40, rows = 64, n = 10, pos0 = 40;
  cpu->reserve(64, rows, 64);
  auto q = random_vec(n * heads * hd, rng), k = random_vec(rows * kvh * hd, rng), v = random_vec(rows * kvh * hd, rng);
  static_assert(kvh == 1, "one KV head: the rows are the cache's");
  for (size_t i = static_cast<size_t>((pos0 + n) * kvh * hd); i < k.size(); ++i) k[i] = v[i] = std::nanf("");
  const AttentionCase c = contiguous_case(q, n, pos0, rows, heads, kvh, hd, 0.2f);
  const std::vector<float> got = attend_on(*cpu, c, k.data(), v.data(), k.size() * 4);
  for (float x : got) ASSERT_TRUE(std::isfinite(x)) << "a row was read past its end";
  expect_close(got, attend_on(*ref, c, k.data(), v.data(), k.size() * 4), 1e-5 * be.tol, "padded head rows");
}

// Each of a few tokens attended alone (1 and 4 threads) gives the bits it gets among 60 tokens.
void expect_attention_batch_invariant(const test::BackendCase& be, std::mt19937& rng, int heads, int kvh, int hd, DType dt, int window) {
  const int ctx = 300, n = 60, pos0 = ctx - n;
  auto q = random_vec(n * heads * hd, rng);
  const auto k = one_block_cache(random_vec(ctx * kvh * hd, rng), ctx, kvh, hd),
             v = one_block_cache(random_vec(ctx * kvh * hd, rng), ctx, kvh, hd);
  std::vector<uint16_t> k16(k.size()), v16(v.size());
  for (size_t i = 0; i < k.size(); ++i) {
    k16[i] = f32_to_f16(k[i]);
    v16[i] = f32_to_f16(v[i]);
  }
  const bool half = dt == DType::F16;
  const void* kp = half ? static_cast<const void*>(k16.data()) : k.data();
  const void* vp = half ? static_cast<const void*>(v16.data()) : v.data();
  const size_t bytes = k.size() * (half ? 2 : 4);
  AttentionCase all = contiguous_case(q, n, pos0, ctx, heads, kvh, hd, 0.25f);
  all.window = window;
  all.dt = dt;
  auto wide = be.make(3);
  wide->reserve(64, ctx, 64);
  const std::vector<float> batch = attend_on(*wide, all, kp, vp, bytes);
  for (int threads : {1, 4}) {  // 4: one token's KV-head tiles split into parts of its GQA groups
    auto cpu = be.make(threads);
    cpu->reserve(64, ctx, 64);
    for (int t : {0, 1, 17, n - 1}) {
      const size_t row = static_cast<size_t>(heads * hd);
      AttentionCase one =
          contiguous_case(std::vector<float>(q.begin() + t * row, q.begin() + (t + 1) * row), 1, pos0 + t, ctx, heads, kvh, hd, 0.25f);
      one.window = window;
      one.dt = dt;
      const std::vector<float> alone = attend_on(*cpu, one, kp, vp, bytes);
      EXPECT_EQ(0, std::memcmp(alone.data(), batch.data() + t * row, row * sizeof(float)))
          << "token " << t << " alone on " << threads << " threads, window " << window;
    }
  }
}

// A query's attention output is the same bits whatever else is in the call (tiles of tokens and
// heads, split GQA groups) and however many threads run it: with keys transposed (GQA groups of
// 4) and with scores as row dot products (MHA, head_dim 64; GQA groups of 2, head_dim 128 on
// AVX2). F16 caches both ways: a token alone reads their rows in place, the 60 tokens' tiles (over
// kWidenF16*Queries queries) widen them into scratch first.
TEST_P(OpTest, AttentionOfAQueryDoesNotDependOnTheBatch) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  std::mt19937 rng(15);
  for (const auto [heads, kvh, hd, f16] :
       {std::array{8, 2, 32, 0}, std::array{8, 2, 32, 1}, std::array{4, 4, 64, 0}, std::array{4, 2, 128, 1}})
    for (int window : {0, 37}) {
      SCOPED_TRACE(std::to_string(heads) + " heads, " + std::to_string(kvh) + " KV heads of " + std::to_string(hd));
      expect_attention_batch_invariant(be, rng, heads, kvh, hd, f16 ? DType::F16 : DType::F32, window);
    }
}

// A KV cache stored in F16: the CPU backend's stores round exactly as the reference's, and its
// attention over half-precision keys/values matches the reference's (which widens each value).
TEST_P(OpTest, F16KvCacheMatchesReference) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(6);
  // hd 24: vector body + scalar tail, rows widened; MHA with hd 64: rows read in place, scores
  // as row dot products (AVX2).
  for (const auto [heads, kvh, hd] : {std::array{4, 2, 24}, std::array{2, 2, 64}}) {
    SCOPED_TRACE(std::to_string(heads) + " heads, " + std::to_string(kvh) + " KV heads of " + std::to_string(hd));
    const int kvd = kvh * hd, ctx = 37, n = 5;
    cpu->reserve(64, ctx, 64);
    const auto k_rows = random_vec(ctx * kvd, rng), v_rows = random_vec(ctx * kvd, rng), q = random_vec(n * heads * hd, rng);
    std::vector<int64_t> slots(ctx);
    for (int j = 0; j < ctx; ++j) slots[static_cast<size_t>(j)] = j;
    // Each backend stores k and v as F16 into its own cache of one block.
    auto stored = [&](Backend& b, const std::vector<float>& src) {
      OnBackend<float> s(b, src);
      OnBackend<int64_t> r(b, slots);
      OnBackend<uint16_t> dst(b, src.size());
      b.store_kv(dst(), DType::F16, {.block_size = ctx, .n_kv_heads = kvh, .head_dim = hd}, r(), s(), ctx);
      return dst.host();
    };
    const std::vector<uint16_t> k16 = stored(*cpu, k_rows), v16 = stored(*cpu, v_rows);
    EXPECT_EQ(k16, stored(*ref, k_rows));
    EXPECT_EQ(v16, stored(*ref, v_rows));
    const auto k = one_block_cache(k_rows, ctx, kvh, hd), v = one_block_cache(v_rows, ctx, kvh, hd);
    AttentionCase c = contiguous_case(q, n, ctx - n, ctx, heads, kvh, hd, 0.2f);
    for (int window : {0, 7}) {
      c.window = window;
      c.dt = DType::F16;
      const std::vector<float> o1 = attend_on(*cpu, c, k16.data(), v16.data(), k16.size() * 2);
      expect_close(o1, attend_on(*ref, c, k16.data(), v16.data(), k16.size() * 2), 1e-5 * be.tol,
                   "f16 attention window " + std::to_string(window));
      // And within half-precision rounding of the F32 cache.
      c.dt = DType::F32;
      expect_close(o1, attend_on(*ref, c, k.data(), v.data(), k.size() * 4), 2e-3 * be.tol, "f16 vs f32 cache");
    }
  }
}

// Two sequences in one batch over a shuffled block pool give what each gives alone over a
// contiguous cache (the paged layout changes where rows live, not what is computed).
TEST_P(OpTest, PagedAttentionEqualsContiguous) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(5);
  const int heads = 4, kvh = 2, hd = 8, kvd = kvh * hd, B = 4, n_blocks = 12;
  const int len_a = 13, len_b = 9;  // sequence lengths after this call
  cpu->reserve(64, 64, 64);
  auto ka = random_vec(len_a * kvd, rng), va = random_vec(len_a * kvd, rng);
  auto kb = random_vec(len_b * kvd, rng), vb = random_vec(len_b * kvd, rng);
  const std::vector<int32_t> table_a = {7, 2, 10, 0}, table_b = {5, 11, 3};
  const size_t pool = static_cast<size_t>(n_blocks * B * kvd);
  OnBackend<float> kpool(*cpu, pool), vpool(*cpu, pool);
  auto place = [&](const std::vector<int32_t>& table, const std::vector<float>& src, OnBackend<float>& dst, int len) {
    std::vector<int64_t> slots;
    for (int j = 0; j < len; ++j) slots.push_back(static_cast<int64_t>(table[static_cast<size_t>(j / B)]) * B + j % B);
    OnBackend<int64_t> r(*cpu, slots);
    OnBackend<float> s(*cpu, src);
    cpu->store_kv(dst(), DType::F32, {.block_size = B, .n_kv_heads = kvh, .head_dim = hd}, r(), s(), len);
  };
  place(table_a, ka, kpool, len_a);
  place(table_a, va, vpool, len_a);
  place(table_b, kb, kpool, len_b);
  place(table_b, vb, vpool, len_b);
  const std::vector<float> kp = kpool.host(), vp = vpool.host();
  // Batch: the last 3 tokens of a, then the last 2 of b.
  const int n = 5;
  auto q = random_vec(n * heads * hd, rng);
  const size_t q_a = static_cast<size_t>(3 * heads * hd);
  for (int window : {0, 3}) {
    const AttentionCase paged{.q = q,
                              .positions = {10, 11, 12, 7, 8},
                              .seq = {0, 0, 0, 1, 1},
                              .tables = {table_a, table_b},
                              .block_size = B,
                              .heads = heads,
                              .kv_heads = kvh,
                              .head_dim = hd,
                              .window = window,
                              .scale = 0.3f};
    AttentionCase alone_a = contiguous_case(std::vector<float>(q.begin(), q.begin() + q_a), 3, 10, len_a, heads, kvh, hd, 0.3f);
    AttentionCase alone_b = contiguous_case(std::vector<float>(q.begin() + q_a, q.end()), 2, 7, len_b, heads, kvh, hd, 0.3f);
    alone_a.window = alone_b.window = window;
    const auto cache = [&](const std::vector<float>& rows, int len) { return one_block_cache(rows, len, kvh, hd); };
    std::vector<float> alone = attend_on(*ref, alone_a, cache(ka, len_a).data(), cache(va, len_a).data(), ka.size() * 4);
    const std::vector<float> b_out = attend_on(*ref, alone_b, cache(kb, len_b).data(), cache(vb, len_b).data(), kb.size() * 4);
    alone.insert(alone.end(), b_out.begin(), b_out.end());
    expect_close(attend_on(*cpu, paged, kp.data(), vp.data(), pool * 4), alone, 1e-5 * be.tol,
                 "paged attention window " + std::to_string(window));
  }
  OnBackend<float> back(*cpu, static_cast<size_t>(2 * kvd));
  OnBackend<int32_t> rows(*cpu, {1, 2});  // gather_rows: rows 1 and 2 of kb
  OnBackend<float> kb_rows(*cpu, kb);
  cpu->gather_rows(back(), kb_rows(), rows(), 2, kvd);
  const std::vector<float> got = back.host();
  for (int c = 0; c < 2 * kvd; ++c) EXPECT_EQ(got[static_cast<size_t>(c)], kb[static_cast<size_t>(kvd + c)]);
}

// store_kv puts head h of a token's row at KvLayout's offset of its slot and head, in F32 and
// rounded to F16, and writes nothing else.
TEST_P(OpTest, StoreKvPlacesEachHeadWhereKvLayoutSays) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  std::mt19937 rng(17);
  const int kvh = 3, hd = 8, B = 4, n_blocks = 5, n = 7;
  const KvLayout layout{.block_size = B, .n_kv_heads = kvh, .head_dim = hd};
  const std::vector<int64_t> slots = {9, 0, 19, 3, 10, 4, 17};  // blocks 2, 0, 4, 0, 2, 1, 4
  const auto src = random_vec(n * kvh * hd, rng);
  const size_t pool = static_cast<size_t>(n_blocks * B * kvh * hd);
  for (const bool reference : {false, true})
    for (DType dt : {DType::F32, DType::F16}) {
      SCOPED_TRACE(std::string(reference ? "reference " : "") + dtype_name(dt));
      const auto backend = reference ? make_reference_backend() : be.make(2);
      const size_t elem = dt == DType::F16 ? 2 : 4;
      std::vector<uint8_t> host(pool * elem, 0xA5);  // untouched values keep this pattern
      BackendBuffer cache(*backend, host.size());
      backend->upload(cache.ref(), host.data(), host.size());
      OnBackend<int64_t> slot_buf(*backend, slots);
      OnBackend<float> src_buf(*backend, src);
      backend->store_kv(cache.ref(), dt, layout, slot_buf(), src_buf(), n);
      backend->download(host.data(), cache.ref(), host.size());
      std::vector<bool> written(pool, false);
      for (int t = 0; t < n; ++t)
        for (int h = 0; h < kvh; ++h)
          for (int d = 0; d < hd; ++d) {
            const int64_t slot = slots[static_cast<size_t>(t)];
            // [block][head][offset][d], written out here rather than taken from KvLayout::offset.
            const size_t at = static_cast<size_t>((((slot / B) * kvh + h) * B + slot % B) * hd + d);
            const float want = src[static_cast<size_t>((t * kvh + h) * hd + d)];
            written[at] = true;
            if (dt == DType::F16) {
              uint16_t got;
              std::memcpy(&got, host.data() + at * 2, 2);
              ASSERT_EQ(got, f32_to_f16(want)) << "token " << t << " head " << h << " value " << d;
            } else {
              float got;
              std::memcpy(&got, host.data() + at * 4, 4);
              ASSERT_EQ(got, want) << "token " << t << " head " << h << " value " << d;
            }
          }
      for (size_t i = 0; i < pool; ++i) {
        if (written[i]) continue;
        for (size_t b = 0; b < elem; ++b) ASSERT_EQ(host[i * elem + b], 0xA5) << "value " << i << " was written";
      }
    }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, OpTest, ::testing::ValuesIn(test::every_backend()),
                         [](const auto& info) { return info.param.name; });

// The streaming-read probe of `wick bench`: each thread reads its part of the buffer as four
// streams side by side (an odd size, so the parts and their quarters are cut off short; the
// ASan build fails on a read past them), and reports a finite, positive rate.
TEST(MemoryBandwidth, ProbeReadsItsBufferAtAFiniteRate) {
  ReadBandwidthProbe probe(2, (3u << 20) + 4000);
  const BandwidthResult r = probe.measure(2);
  EXPECT_EQ(r.threads, 2);
  EXPECT_GT(r.buffer_bytes, 3.0 * (1 << 20) - 2 * 256);
  EXPECT_LE(r.buffer_bytes, 3.0 * (1 << 20) + 4000);
  EXPECT_GE(r.bytes_per_repeat, 256.0 * (1 << 20));  // a buffer in cache is read several times per repeat
  EXPECT_TRUE(std::isfinite(r.bytes_per_second));
  EXPECT_GT(r.bytes_per_second, 0);
}

}  // namespace
}  // namespace wick
