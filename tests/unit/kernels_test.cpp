// Every backend op, on every backend (the CPU on each instruction set it has kernels for), against
// the scalar reference backend, for every weight dtype: tests take a backend factory
// (test::BackendCase), so a new backend runs these same tests with its own tolerance.
#include <gtest/gtest.h>

#include "core/quant.h"

#include <cmath>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "backends/cpu/cpu_isa.h"
#include "isa_params.h"

namespace wick {
namespace {

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
    std::vector<float> y1(static_cast<size_t>(n * rows)), y2(y1.size());
    cpu->matmul(y1.data(), x.data(), n, w.t, &b.t);
    ref->matmul(y2.data(), x.data(), n, w.t, &b.t);
    expect_close(y1, y2, 1e-5 * be.tol, "matmul");
    // Batch invariance: each token alone gives the same bits as in the batch (F16/BF16 take
    // the convert-to-scratch path from 8 tokens up and read the rows directly below that).
    std::vector<float> one(static_cast<size_t>(rows));
    for (int t = 0; t < n; ++t) {
      cpu->matmul(one.data(), x.data() + t * cols, 1, w.t, &b.t);
      for (int r = 0; r < rows; ++r)
        ASSERT_EQ(one[static_cast<size_t>(r)], y1[static_cast<size_t>(t * rows + r)]) << "token " << t << " alone vs in a batch of " << n;
    }
    // strided output, no bias
    std::vector<float> y3(static_cast<size_t>(n * (rows + 3)), -7.0f);
    cpu->matmul(y3.data(), x.data(), n, w.t, nullptr, rows + 3);
    ref->matmul(y2.data(), x.data(), n, w.t, nullptr);
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
  const int32_t ids[] = {0, 49, 7, 7};
  std::vector<float> a(4 * 24), b(4 * 24);
  cpu->embed(a.data(), table.t, ids, 4);
  ref->embed(b.data(), table.t, ids, 4);
  expect_close(a, b, 0, "embed");
  auto g = random_tensor(dt, 1, 24, rng);
  std::vector<float> na(a.size()), nb(a.size());
  cpu->rms_norm(na.data(), a.data(), 4, 24, g.t, 1e-6f);
  ref->rms_norm(nb.data(), a.data(), 4, 24, g.t, 1e-6f);
  expect_close(na, nb, 1e-5 * be.tol, "rms_norm");
  std::vector<float> in_place = a;  // Qwen3's q/k norms run in place, over rows of head_dim
  cpu->rms_norm(in_place.data(), in_place.data(), 4, 24, g.t, 1e-6f);
  EXPECT_EQ(in_place, na) << "rms_norm in place differs from out of place";
}

INSTANTIATE_TEST_SUITE_P(EveryBackendAndDtype, KernelTest,
                         ::testing::Combine(::testing::ValuesIn(test::every_backend()),
                                            ::testing::Values(DType::F32, DType::F16, DType::BF16)),
                         [](const auto& info) { return std::get<0>(info.param).name + "_" + dtype_name(std::get<1>(info.param)); });

// Block-quantized weights: Q8_0 / Q4_0 through the integer kernels (activations quantized to
// 8 bits, so within the activation rounding of the float reference), Q4_K / Q6_K through
// dequantization (within float rounding). Every dtype: a row's result is the same bits in a
// batch of 5 as alone (batch invariance).
class QuantMatmulTest : public ::testing::TestWithParam<std::tuple<test::BackendCase, DType>> {};

TEST_P(QuantMatmulTest, MatchesReferenceAndIsBatchInvariant) {
  const auto& [be, dt] = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(9);
  const int rows = 37, cols = 512, n = 5;
  cpu->reserve(cols, 16, 8);
  auto wf = random_vec(static_cast<size_t>(rows * cols), rng);
  OwnedTensor w;
  w.bytes.resize(dtype_row_bytes(dt, static_cast<uint64_t>(rows * cols)));
  for (int r = 0; r < rows; ++r) quantize_row(dt, wf.data() + r * cols, w.bytes.data() + r * dtype_row_bytes(dt, cols), cols);
  w.t.dtype = dt;
  w.t.ndim = 2;
  w.t.shape = {rows, cols, 0, 0};
  w.t.data = w.bytes.data();
  auto b = random_tensor(DType::F32, 1, rows, rng);
  auto x = random_vec(static_cast<size_t>(n * cols), rng);
  std::vector<float> y1(static_cast<size_t>(n * rows)), y2(y1.size()), one(static_cast<size_t>(rows));
  cpu->matmul(y1.data(), x.data(), n, w.t, &b.t);
  ref->matmul(y2.data(), x.data(), n, w.t, &b.t);
  const bool int8_path = dt == DType::Q8_0 || dt == DType::Q4_0;
  if (int8_path) {
    // Per element against the scalar int8 reference (activations quantized as the kernels do,
    // exact integer block sums, double accumulation): only the float scaling and the order of
    // the sums differ, so 1e-5 of the sum of the terms' magnitudes bounds the difference.
    std::vector<float> ad(static_cast<size_t>(cols / 32)), wd(static_cast<size_t>(cols));
    std::vector<int32_t> as(ad.size());
    std::vector<int8_t> aq(static_cast<size_t>(cols));
    for (int t = 0; t < n; ++t) {
      ActQ8Row act{ad.data(), as.data(), aq.data()};
      quantize_act_q8_ref(x.data() + t * cols, cols, act);
      for (int r = 0; r < rows; ++r) {
        const void* row = w.bytes.data() + r * dtype_row_bytes(dt, cols);
        const float dot = dt == DType::Q8_0 ? dot_q8_0_act_ref(static_cast<const BlockQ8_0*>(row), act, cols)
                                            : dot_q4_0_act_ref(static_cast<const BlockQ4_0*>(row), act, cols);
        dequantize_row(dt, row, wd.data(), cols);
        double mag = 0;
        for (int i = 0; i < cols; ++i)
          mag += std::fabs(static_cast<double>(wd[static_cast<size_t>(i)]) * x[static_cast<size_t>(t * cols + i)]);
        const double want = static_cast<double>(dot) + static_cast<const float*>(b.t.data)[r];
        ASSERT_NEAR(y1[static_cast<size_t>(t * rows + r)], want, 1e-5 * be.tol * (mag + 1))
            << dtype_name(dt) << " row " << r << " token " << t;
      }
    }
  } else {
    // Per element against a double-precision dot of the decoded weights (dequantize_row is
    // itself checked against gguf-py's decoder in quant_fixture_test.cpp): float summation
    // order is the only difference, bounded by 1e-5 of the terms' magnitudes.
    std::vector<float> wd(static_cast<size_t>(cols));
    for (int r = 0; r < rows; ++r) {
      dequantize_row(dt, w.bytes.data() + r * dtype_row_bytes(dt, cols), wd.data(), cols);
      for (int t = 0; t < n; ++t) {
        double dot = 0, mag = 0;
        for (int i = 0; i < cols; ++i) {
          const double term = static_cast<double>(wd[static_cast<size_t>(i)]) * x[static_cast<size_t>(t * cols + i)];
          dot += term;
          mag += std::fabs(term);
        }
        const double want = dot + static_cast<const float*>(b.t.data)[r];
        ASSERT_NEAR(y1[static_cast<size_t>(t * rows + r)], want, 1e-5 * be.tol * (mag + 1))
            << dtype_name(dt) << " row " << r << " token " << t;
        ASSERT_NEAR(y2[static_cast<size_t>(t * rows + r)], want, 1e-5 * (mag + 1)) << "the reference backend, row " << r;
      }
    }
  }
  for (int t = 0; t < n; ++t) {
    cpu->matmul(one.data(), x.data() + t * cols, 1, w.t, &b.t);
    for (int r = 0; r < rows; ++r)
      ASSERT_EQ(one[static_cast<size_t>(r)], y1[static_cast<size_t>(t * rows + r)]) << "row " << t << " alone vs in a batch";
  }
  // Embedding lookup of a quantized table: exactly the decoded rows asked for, in order.
  const int32_t ids[] = {3, 36, 3};
  std::vector<float> e1(3 * cols), want(3 * cols);
  cpu->embed(e1.data(), w.t, ids, 3);
  for (int k = 0; k < 3; ++k) dequantize_row(dt, w.bytes.data() + ids[k] * dtype_row_bytes(dt, cols), want.data() + k * cols, cols);
  EXPECT_EQ(e1, want);
}

INSTANTIATE_TEST_SUITE_P(EveryBackendAndQuantType, QuantMatmulTest,
                         ::testing::Combine(::testing::ValuesIn(test::every_backend()),
                                            ::testing::Values(DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K)),
                         [](const auto& info) { return std::get<0>(info.param).name + "_" + dtype_name(std::get<1>(info.param)); });

class OpTest : public ::testing::TestWithParam<test::BackendCase> {};

TEST_P(OpTest, RopeSiluAddMatchReference) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(2);
  auto ref = make_reference_backend();
  std::mt19937 rng(3);
  const int n = 3, heads = 2, hd = 8, stride = 20;
  auto x = random_vec(n * stride, rng), cs = random_vec(n * hd / 2, rng), sn = random_vec(n * hd / 2, rng);
  auto y = x;
  cpu->rope(x.data(), n, heads, hd, stride, cs.data(), sn.data());
  ref->rope(y.data(), n, heads, hd, stride, cs.data(), sn.data());
  expect_close(x, y, 1e-6 * be.tol, "rope");
  auto u = random_vec(40000, rng);
  std::vector<float> g, g2;
  for (Activation act : {Activation::kSilu, Activation::kRelu, Activation::kGelu, Activation::kGeluTanh}) {
    g = random_vec(40000, rng);
    for (auto& v : g) v *= 6.0f;  // both tails
    g2 = g;
    cpu->gated_activation(g.data(), u.data(), 40000, act);
    ref->gated_activation(g2.data(), u.data(), 40000, act);
    expect_close(g, g2, 1e-6 * be.tol, std::string("gated_activation ") + activation_name(act));
  }
  cpu->add(g.data(), u.data(), 40000);
  ref->add(g2.data(), u.data(), 40000);
  expect_close(g, g2, 1e-6 * be.tol, "add");
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
    auto y = x;
    cpu->activation(x.data(), 40000, act);
    ref->activation(y.data(), 40000, act);
    expect_close(x, y, 1e-6 * be.tol, std::string("activation ") + activation_name(act));
  }
  const int n = 5, dim = 300;
  auto x = random_vec(n * dim, rng);
  for (int i = 0; i < dim; ++i) x[static_cast<size_t>(i)] += 3.0f;                                     // a row with a large mean
  OwnedTensor w = random_tensor(DType::F32, 1, dim, rng), b = random_tensor(DType::F32, 1, dim, rng);  // 1-D
  const Tensor &wv = w.t, &bv = b.t;
  std::vector<float> y1(x.size()), y2(x.size()), one(static_cast<size_t>(dim));
  cpu->layer_norm(y1.data(), x.data(), n, dim, wv, &bv, 1e-5f);
  ref->layer_norm(y2.data(), x.data(), n, dim, wv, &bv, 1e-5f);
  expect_close(y1, y2, 1e-5 * be.tol, "layer_norm");
  cpu->layer_norm(one.data(), x.data() + 3 * dim, 1, dim, wv, &bv, 1e-5f);
  EXPECT_EQ(0, std::memcmp(one.data(), y1.data() + 3 * dim, sizeof(float) * dim)) << "batch invariant";
  cpu->layer_norm(y1.data(), x.data(), n, dim, wv, nullptr, 1e-5f);
  ref->layer_norm(y2.data(), x.data(), n, dim, wv, nullptr, 1e-5f);
  expect_close(y1, y2, 1e-5 * be.tol, "layer_norm without bias");
}

TEST_P(OpTest, AttentionMatchesReferenceWithGqaAndWindow) {
  const test::BackendCase& be = GetParam();
  WICK_REQUIRE_BACKEND(be);
  auto cpu = be.make(3);
  auto ref = make_reference_backend();
  std::mt19937 rng(4);
  const int heads = 4, kvh = 2, hd = 16, ctx = 40, n = 6, pos0 = 20;
  cpu->reserve(64, ctx, 64);
  auto q = random_vec(n * heads * hd, rng), k = random_vec(ctx * kvh * hd, rng), v = random_vec(ctx * kvh * hd, rng);
  std::vector<int32_t> positions(n);
  for (int t = 0; t < n; ++t) positions[static_cast<size_t>(t)] = pos0 + t;
  const int32_t one_block[] = {0};
  std::vector<const int32_t*> tables(n, one_block);  // contiguous: a single block of ctx rows
  for (int window : {0, 1, 5, 100}) {
    std::vector<float> o1(q.size()), o2(q.size());
    AttentionArgs a{o1.data(), q.data(), k.data(), v.data(), n, positions.data(), tables.data(), ctx, heads, kvh, hd, window, 0.25f};
    cpu->attention(a);
    a.out = o2.data();
    ref->attention(a);
    expect_close(o1, o2, 1e-5 * be.tol, "attention window " + std::to_string(window));
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
  const int heads = 4, kvh = 2, hd = 24, kvd = kvh * hd, ctx = 37, n = 5;  // hd 24: vector body + scalar tail
  cpu->reserve(64, ctx, 64);
  auto k = random_vec(ctx * kvd, rng), v = random_vec(ctx * kvd, rng), q = random_vec(n * heads * hd, rng);
  std::vector<int64_t> rows(ctx);
  for (int j = 0; j < ctx; ++j) rows[static_cast<size_t>(j)] = j;
  std::vector<uint16_t> k16(k.size()), v16(v.size()), k16_ref(k.size()), v16_ref(v.size());
  cpu->scatter_rows(k16.data(), DType::F16, rows.data(), k.data(), ctx, kvd);
  cpu->scatter_rows(v16.data(), DType::F16, rows.data(), v.data(), ctx, kvd);
  ref->scatter_rows(k16_ref.data(), DType::F16, rows.data(), k.data(), ctx, kvd);
  ref->scatter_rows(v16_ref.data(), DType::F16, rows.data(), v.data(), ctx, kvd);
  EXPECT_EQ(k16, k16_ref);
  EXPECT_EQ(v16, v16_ref);
  std::vector<int32_t> positions(n);
  for (int t = 0; t < n; ++t) positions[static_cast<size_t>(t)] = ctx - n + t;
  const int32_t one_block[] = {0};
  std::vector<const int32_t*> tables(n, one_block);
  for (int window : {0, 7}) {
    std::vector<float> o1(q.size()), o2(q.size()), o32(q.size());
    AttentionArgs a{o1.data(), q.data(), k16.data(), v16.data(), n,    positions.data(), tables.data(), ctx,
                    heads,     kvh,      hd,         window,     0.2f, DType::F16};
    cpu->attention(a);
    a.out = o2.data();
    ref->attention(a);
    expect_close(o1, o2, 1e-5 * be.tol, "f16 attention window " + std::to_string(window));
    // And within half-precision rounding of the F32 cache.
    ref->attention({o32.data(), q.data(), k.data(), v.data(), n, positions.data(), tables.data(), ctx, heads, kvh, hd, window, 0.2f});
    expect_close(o1, o32, 2e-3 * be.tol, "f16 vs f32 cache");
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
  std::vector<float> kpool(static_cast<size_t>(n_blocks * B * kvd)), vpool(kpool.size());
  auto place = [&](const std::vector<int32_t>& table, const std::vector<float>& src, std::vector<float>& pool, int len) {
    std::vector<int64_t> rows;
    for (int j = 0; j < len; ++j) rows.push_back(static_cast<int64_t>(table[static_cast<size_t>(j / B)]) * B + j % B);
    cpu->scatter_rows(pool.data(), DType::F32, rows.data(), src.data(), len, kvd);
  };
  place(table_a, ka, kpool, len_a);
  place(table_a, va, vpool, len_a);
  place(table_b, kb, kpool, len_b);
  place(table_b, vb, vpool, len_b);
  // Batch: the last 3 tokens of a, then the last 2 of b.
  const std::vector<int32_t> pos = {10, 11, 12, 7, 8};
  const std::vector<const int32_t*> tables = {table_a.data(), table_a.data(), table_a.data(), table_b.data(), table_b.data()};
  const int n = 5;
  auto q = random_vec(n * heads * hd, rng);
  for (int window : {0, 3}) {
    std::vector<float> paged(q.size());
    cpu->attention({paged.data(), q.data(), kpool.data(), vpool.data(), n, pos.data(), tables.data(), B, heads, kvh, hd, window, 0.3f});
    const int32_t zero[] = {0};
    const std::vector<const int32_t*> flat(3, zero);
    std::vector<float> alone(q.size());
    ref->attention({alone.data(), q.data(), ka.data(), va.data(), 3, pos.data(), flat.data(), len_a, heads, kvh, hd, window, 0.3f});
    ref->attention({alone.data() + 3 * heads * hd, q.data() + 3 * heads * hd, kb.data(), vb.data(), 2, pos.data() + 3, flat.data(), len_b,
                    heads, kvh, hd, window, 0.3f});
    expect_close(paged, alone, 1e-5 * be.tol, "paged attention window " + std::to_string(window));
  }
  std::vector<float> back(static_cast<size_t>(2 * kvd));
  const int32_t rows[] = {static_cast<int32_t>(5 * B + 1), static_cast<int32_t>(7 * B)};  // b's position 1, a's position 0
  cpu->gather_rows(back.data(), kpool.data(), rows, 2, kvd);
  for (int c = 0; c < kvd; ++c) {
    EXPECT_EQ(back[static_cast<size_t>(c)], kb[static_cast<size_t>(kvd + c)]);
    EXPECT_EQ(back[static_cast<size_t>(kvd + c)], ka[static_cast<size_t>(c)]);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, OpTest, ::testing::ValuesIn(test::every_backend()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace wick
