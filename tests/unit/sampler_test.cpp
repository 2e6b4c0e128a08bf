// The sampler chain on hand-made distributions: each stage against its definition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "runtime/sampler.h"
#include "wick/error.h"

namespace wick {
namespace {

// logits = log(probabilities) so the expected distribution is exact.
std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(static_cast<float>(std::log(x)));
  return l;
}

SamplingParams params(float t, int k = 0, float p = 1.0f, uint64_t seed = 1) {
  SamplingParams s;
  s.temperature = t;
  s.top_k = k;
  s.top_p = p;
  s.seed = seed;
  return s;
}

std::map<int, int> histogram(const std::vector<float>& logits, SamplingParams sp, int draws) {
  Sampler s(static_cast<int>(logits.size()), sp);
  std::map<int, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.sample(logits.data()).token];
  return h;
}

const std::vector<double> kProbs = {0.05, 0.4, 0.3, 0.15, 0.1};

TEST(Sampler, GreedyEqualsTemperatureZeroEqualsTopK1) {
  const auto l = logits_of(kProbs);
  EXPECT_EQ(Sampler(5, params(0.0f)).sample(l.data()).token, 1);
  EXPECT_EQ(Sampler(5, params(1.0f, 1)).sample(l.data()).token, 1);
  EXPECT_EQ(histogram(l, params(0.7f, 1, 1.0f, 9), 100).size(), 1u);
  const SampledToken g = Sampler(5, params(0.0f)).sample(l.data());
  EXPECT_NEAR(g.logprob, std::log(0.4), 1e-6);
  EXPECT_EQ(g.processed_logprob, 0.0f) << "greedy picks with probability 1";
}

TEST(Sampler, TopKKeepsOnlyKBest) {
  const auto h = histogram(logits_of(kProbs), params(1.0f, 2, 1.0f, 3), 4000);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_TRUE(h.count(1) && h.count(2));
  EXPECT_NEAR(h.at(1) / 4000.0, 0.4 / 0.7, 0.03);
}

TEST(Sampler, TopPKeepsSmallestSetReachingP) {
  // sorted: 0.4, 0.3, 0.15, 0.1, 0.05 -> p=0.69 keeps {1,2}; p=0.71 adds 3.
  auto h = histogram(logits_of(kProbs), params(1.0f, 0, 0.69f, 3), 3000);
  EXPECT_EQ(h.size(), 2u);
  h = histogram(logits_of(kProbs), params(1.0f, 0, 0.71f, 3), 3000);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_TRUE(h.count(3));
}

TEST(Sampler, MinPKeepsTokensAboveAFractionOfTheBest) {
  SamplingParams sp = params(1.0f);
  sp.min_p = 0.5f;  // threshold 0.2: keeps 0.4 and 0.3
  auto h = histogram(logits_of(kProbs), sp, 3000);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_TRUE(h.count(1) && h.count(2));
  sp.min_p = 0.3f;  // threshold 0.12: adds 0.15
  h = histogram(logits_of(kProbs), sp, 3000);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_TRUE(h.count(3));
}

TEST(Sampler, ProcessedLogprobIsUnderTheFilteredDistribution) {
  const auto l = logits_of(kProbs);
  Sampler s(5, params(1.0f, 2, 1.0f, 5));  // keeps {1: 0.4, 2: 0.3}
  for (int i = 0; i < 50; ++i) {
    const SampledToken t = s.sample(l.data());
    const double p = kProbs[static_cast<size_t>(t.token)];
    EXPECT_NEAR(t.logprob, std::log(p), 1e-6);
    EXPECT_NEAR(t.processed_logprob, std::log(p / 0.7), 1e-6);
  }
  // Temperature 0.5 squares the probabilities before renormalizing.
  Sampler tt(5, params(0.5f, 0, 1.0f, 5));
  double z = 0;
  for (double p : kProbs) z += p * p;
  for (int i = 0; i < 20; ++i) {
    const SampledToken t = tt.sample(l.data());
    const double p = kProbs[static_cast<size_t>(t.token)];
    EXPECT_NEAR(t.processed_logprob, std::log(p * p / z), 1e-5);
  }
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  // Logits 3, 2, -1; token 0 in the prompt. Penalty 2: 3 -> 1.5, so greedy picks 1.
  const std::vector<float> l = {3.0f, 2.0f, -1.0f};
  SamplingParams sp = params(0.0f);
  sp.repetition_penalty = 2.0f;
  Sampler s(3, sp);
  s.set_prompt({0, 2});
  EXPECT_EQ(s.sample(l.data()).token, 1);
  // Now 1 was generated: 2 -> 1, token 0 stays 1.5: greedy picks 0.
  EXPECT_EQ(s.sample(l.data()).token, 0);
  // The processed distribution (temperature 1) is softmax of the penalized logits: 1.5, 2/2, -1*2.
  sp.temperature = 1.0f;
  Sampler q(3, sp);
  q.set_prompt({0, 2});
  const double z = std::exp(1.5) + std::exp(2.0) + std::exp(-2.0);
  const SampledToken t = q.sample(l.data());
  const double pen[] = {1.5, 2.0, -2.0};
  EXPECT_NEAR(t.processed_logprob, pen[t.token] - std::log(z), 1e-6);
  EXPECT_NEAR(t.logprob, token_logprob(l.data(), 3, t.token), 1e-7) << "logprob stays under the raw distribution";
}

TEST(Sampler, PresenceAndFrequencyPenalizeGeneratedTokensOnly) {
  // Logits 2.0, 1.9, 0; greedy. Presence 0.5: after token 0 is generated its logit is 1.5 -> 1 wins.
  const std::vector<float> l = {2.0f, 1.9f, 0.0f};
  SamplingParams sp = params(0.0f);
  sp.presence_penalty = 0.5f;
  Sampler s(3, sp);
  s.set_prompt({1});  // the prompt does not count for presence / frequency
  EXPECT_EQ(s.sample(l.data()).token, 0);
  EXPECT_EQ(s.sample(l.data()).token, 1);  // 1.5 vs 1.9
  EXPECT_EQ(s.sample(l.data()).token, 0);  // 1.5 vs 1.4: presence does not grow with the count
  // Frequency 0.3: token 0 drops by 0.3 per use: 2.0, 1.7 (then 1 wins at 1.9), ...
  SamplingParams f = params(0.0f);
  f.frequency_penalty = 0.3f;
  Sampler g(3, f);
  std::vector<int> seq;
  for (int i = 0; i < 4; ++i) seq.push_back(g.sample(l.data()).token);
  // 0 (2.0 vs 1.9) -> 1 (1.7 vs 1.9) -> 0 (1.7 vs 1.6) -> 1 (1.4 vs 1.6)
  EXPECT_EQ(seq, (std::vector<int>{0, 1, 0, 1}));
}

// top_p on a large vocabulary: the kept set is exactly the smallest prefix reaching p, both when
// the 1024 most likely tokens hold p (peaked) and when they do not (flat: full sort).
TEST(Sampler, TopPOnALargeVocabularyMatchesTheDefinition) {
  const int V = 5000;
  std::mt19937 rng(7);
  int prefix_cases = 0;  // the 1024 most likely hold >= p but visibly < all of the mass
  for (double spread : {8.0, 2.5, 2.0, 1.5, 0.5}) {
    std::normal_distribution<float> nd(0.0f, static_cast<float>(spread));
    std::vector<float> l(V);
    for (float& x : l) x = nd(rng);
    std::vector<int> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return l[a] != l[b] ? l[a] > l[b] : a < b; });
    double total = 0;
    for (float x : l) total += std::exp(static_cast<double>(x));
    const double p = 0.9;
    double cum = 0, kept_mass = 0;
    std::vector<char> kept(V, 0);
    for (int id : order) {
      cum += std::exp(static_cast<double>(l[id])) / total;
      kept[id] = 1;
      kept_mass += std::exp(static_cast<double>(l[id]));
      if (cum >= p) break;
    }
    double head = 0;
    for (int i = 0; i < 1024; ++i) head += std::exp(static_cast<double>(l[order[static_cast<size_t>(i)]])) / total;
    if (head >= p && head < 0.995) ++prefix_cases;
    Sampler s(V, params(1.0f, 0, static_cast<float>(p), 11));
    for (int i = 0; i < 200; ++i) {
      const SampledToken t = s.sample(l.data());
      ASSERT_TRUE(kept[t.token]) << "spread " << spread << ": token outside the top-p set";
      EXPECT_NEAR(t.processed_logprob, l[t.token] - std::log(kept_mass), 1e-4);
    }
  }
  EXPECT_GT(prefix_cases, 0) << "no distribution exercised the sorted-prefix path with mass left outside it";
}

TEST(Sampler, FullDistributionFrequencies) {
  const auto h = histogram(logits_of(kProbs), params(1.0f, 0, 1.0f, 11), 20000);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(h.at(i) / 20000.0, kProbs[static_cast<size_t>(i)], 0.015) << i;
}

TEST(Sampler, TemperatureSharpens) {
  const auto h = histogram(logits_of(kProbs), params(0.25f, 0, 1.0f, 4), 4000);
  EXPECT_GT(h.at(1) / 4000.0, 0.7);
}

TEST(Sampler, SeedReproduces) {
  const auto l = logits_of(kProbs);
  Sampler a(5, params(1.0f, 0, 1.0f, 42)), b(5, params(1.0f, 0, 1.0f, 42)), c(5, params(1.0f, 0, 1.0f, 43));
  std::vector<int> sa, sb, sc;
  for (int i = 0; i < 64; ++i)
    sa.push_back(a.sample(l.data()).token), sb.push_back(b.sample(l.data()).token), sc.push_back(c.sample(l.data()).token);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  EXPECT_NE(sequence_seed(42, 0), sequence_seed(42, 1));
  EXPECT_NE(sequence_seed(42, 0), sequence_seed(43, 0));
  EXPECT_EQ(sequence_seed(42, 3), sequence_seed(42, 3));
}

TEST(Sampler, LogprobIsLogSoftmax) {
  const auto l = logits_of(kProbs);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(token_logprob(l.data(), 5, i), std::log(kProbs[static_cast<size_t>(i)]), 1e-6);
}

TEST(Sampler, TopLogprobsAreTheBestTokensInOrder) {
  const auto l = logits_of(kProbs);
  std::vector<TokenLogprob> top;
  top_logprobs(l.data(), 5, 3, log_sum_exp(l.data(), 5), top);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_EQ(top[1].token, 2);
  EXPECT_EQ(top[2].token, 3);
  EXPECT_NEAR(top[2].logprob, std::log(0.15), 1e-6);
  top_logprobs(l.data(), 5, 10, log_sum_exp(l.data(), 5), top);
  EXPECT_EQ(top.size(), 5u);
  const std::vector<float> ties = {1.0f, 2.0f, 2.0f, 0.0f};
  top_logprobs(ties.data(), 4, 2, log_sum_exp(ties.data(), 4), top);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_EQ(top[1].token, 2) << "ties: lower id first";
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW(Sampler(5, params(-0.1f)), Error);
  EXPECT_THROW(Sampler(5, params(NAN)), Error);
  EXPECT_THROW(Sampler(5, params(1.0f, 0, 0.0f)), Error);
  EXPECT_THROW(Sampler(5, params(1.0f, 0, 1.5f)), Error);
  EXPECT_THROW(Sampler(5, params(1.0f, -1)), Error);
  SamplingParams s = params(1.0f);
  s.min_p = 1.5f;
  EXPECT_THROW(Sampler(5, s), Error);
  s = params(1.0f);
  s.repetition_penalty = 0.0f;
  EXPECT_THROW(Sampler(5, s), Error);
  s = params(1.0f);
  s.presence_penalty = INFINITY;
  EXPECT_THROW(Sampler(5, s), Error);
}

}  // namespace
}  // namespace wick
