// Weights quantized at load (`--dtype`): the model still runs, its next-token distributions stay
// close to the F32 model's (top-1 agreement, mean KL divergence, printed for the closing note),
// and `wick bench` reports its figures.
#include <cmath>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "wick/model.h"

namespace wick::test {
namespace {

// Logits of every position of a fixed text, [n, vocab].
std::vector<float> all_logits(const std::shared_ptr<Model>& m, const std::vector<int>& ids) {
  SessionOptions so;
  so.n_threads = 2;
  so.all_logits = true;
  so.batch_tokens = static_cast<int>(ids.size());
  auto s = Session::create(m, so);
  EXPECT_TRUE(s);
  auto l = s.value()->append(ids);
  EXPECT_TRUE(l);
  return std::vector<float>(l.value(), l.value() + ids.size() * static_cast<size_t>(m->config().vocab_size));
}

struct Quality {
  double top1 = 0, kl = 0;
};

Quality compare(const std::vector<float>& ref, const std::vector<float>& q, int vocab) {
  Quality out;
  const size_t n = ref.size() / static_cast<size_t>(vocab);
  for (size_t t = 0; t < n; ++t) {
    const float* a = ref.data() + t * vocab;
    const float* b = q.data() + t * vocab;
    out.top1 += (std::max_element(a, a + vocab) - a) == (std::max_element(b, b + vocab) - b);
    const double ma = *std::max_element(a, a + vocab), mb = *std::max_element(b, b + vocab);
    double za = 0, zb = 0;
    for (int i = 0; i < vocab; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    double kl = 0;
    for (int i = 0; i < vocab; ++i) {
      const double lp = a[i] - ma - std::log(za), lq = b[i] - mb - std::log(zb);
      kl += std::exp(lp) * (lp - lq);
    }
    out.kl += kl;
  }
  out.top1 /= static_cast<double>(n);
  out.kl /= static_cast<double>(n);
  return out;
}

bool holds_dtype(const Model& m, const std::string& name) {
  for (const auto& [dtype, n] : m.info().params_by_dtype)
    if (dtype == name && n > 0) return true;
  return false;
}

struct QualityCase {
  const char* dtype;
  const char* stored_as;  // a dtype the converted model must hold
  double min_top1, max_kl;
};

// Loads `dir` as stored and converted to each case's dtype, and compares every position's
// next-token distribution with the unconverted model's.
void check_quality(const std::string& label, const std::string& dir, const std::string& text,
                   const std::vector<QualityCase>& cases) {
  auto f32 = Model::load(dir);
  ASSERT_TRUE(f32) << f32.error().what();
  auto ids = f32.value()->tokenizer().encode(text, {true, true});
  ASSERT_TRUE(ids);
  const int vocab = f32.value()->config().vocab_size;
  const auto ref = all_logits(f32.value(), ids.value());
  for (const auto& c : cases) {
    auto q = Model::load(dir, {c.dtype});
    ASSERT_TRUE(q) << q.error().what();
    EXPECT_TRUE(holds_dtype(*q.value(), c.stored_as)) << label << " " << c.dtype << " holds no " << c.stored_as;
    const Quality r = compare(ref, all_logits(q.value(), ids.value()), vocab);
    std::printf("[quality] %s %-5s vs F32 over %zu positions: top-1 agreement %.1f%%, mean KL %.5f\n", label.c_str(),
                c.dtype, ids->size(), 100 * r.top1, r.kl);
    EXPECT_GE(r.top1, c.min_top1) << label << " " << c.dtype;
    EXPECT_LE(r.kl, c.max_kl) << label << " " << c.dtype;
  }
}

const char* kStory =
    "Once upon a time, there was a little girl named Lily. She loved to play in the park with her dog. "
    "One day, she saw a big red ball under a tree.";

TEST(Quantized, TinyStoriesLogitsStayCloseToF32) {
  WICK_REQUIRE_TESTDATA();
  // Hidden 128 and FFN 384 are not multiples of 256: the K-quant targets fall back per matrix.
  check_quality("tinystories", testdata_dir() + "/models/tinystories-656k", kStory,
                {{"q8_0", "Q8_0", 0.95, 0.01},
                 {"q6_k", "Q8_0", 0.95, 0.01},
                 {"q4_k", "Q4_0", 0.7, 0.2},
                 {"q4_0", "Q4_0", 0.7, 0.2},
                 {"bf16", "BF16", 0.95, 0.01}});
  auto bad = Model::load(testdata_dir() + "/models/tinystories-656k", {"q3_k"});
  ASSERT_FALSE(bad);
  EXPECT_NE(std::string(bad.error().what()).find("unknown weight dtype 'q3_k'"), std::string::npos);
}

TEST(Quantized, RandomModelWithKQuantWidthsStaysCloseToF32) {
  WICK_REQUIRE_TESTDATA();
  TempDir tmp;
  const std::string dir = tmp.file("m");
  std::string out;
  ASSERT_EQ(run_command(bin("wick-make-model") + " --preset tiny --seed 11 --testdata '" + testdata_dir() + "' -o " + dir +
                            " --set hidden_size=256 intermediate_size=512",
                        &out),
            0)
      << out;
  // Random weights: sharper errors than a trained model (no outlier structure to exploit), so
  // looser bounds; the figures are printed for the closing note.
  check_quality("random-256", dir, kStory,
                {{"q8_0", "Q8_0", 0.8, 0.005},
                 {"q6_k", "Q6_K", 0.75, 0.03},
                 {"q4_k", "Q4_K", 0.5, 0.3},
                 {"q4_0", "Q4_0", 0.5, 0.3}});
}

TEST(Quantized, BenchCommandReportsItsFigures) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " bench -m " + testdata_dir() + "/models/tinystories-656k --dtype q8_0 -p 32 -n 8 -r 2 --json", &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  for (const char* k : {"pp_tokens_per_second", "tg_tokens_per_second", "ttft_seconds", "peak_rss_bytes", "weight_bytes_per_token",
                        "memory_bandwidth_bytes_per_second", "bandwidth_fraction"})
    EXPECT_GT(j[k].get<double>(), 0) << k;
  EXPECT_NE(j["dtypes"].get<std::string>().find("Q8_0"), std::string::npos);
}

}  // namespace
}  // namespace wick::test
