#include <gtest/gtest.h>

#include <cmath>
#include <map>

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

std::map<int, int> histogram(const std::vector<float>& logits, SamplingParams sp, int draws) {
  Sampler s(static_cast<int>(logits.size()), sp);
  std::map<int, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.sample(logits.data())];
  return h;
}

const std::vector<double> kProbs = {0.05, 0.4, 0.3, 0.15, 0.1};

TEST(Sampler, GreedyEqualsTemperatureZeroEqualsTopK1) {
  const auto l = logits_of(kProbs);
  EXPECT_EQ(Sampler(5, {0.0f, 0, 1.0f, 1}).sample(l.data()), 1);
  EXPECT_EQ(Sampler(5, {1.0f, 1, 1.0f, 1}).sample(l.data()), 1);
  EXPECT_EQ(histogram(l, {0.7f, 1, 1.0f, 9}, 100).size(), 1u);
}

TEST(Sampler, TopKKeepsOnlyKBest) {
  const auto h = histogram(logits_of(kProbs), {1.0f, 2, 1.0f, 3}, 4000);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_TRUE(h.count(1) && h.count(2));
  EXPECT_NEAR(h.at(1) / 4000.0, 0.4 / 0.7, 0.03);
}

TEST(Sampler, TopPKeepsSmallestSetReachingP) {
  // sorted: 0.4, 0.3, 0.15, 0.1, 0.05 -> p=0.7 keeps {1,2} (mass exactly 0.7); p=0.71 adds 3.
  auto h = histogram(logits_of(kProbs), {1.0f, 0, 0.69f, 3}, 3000);
  EXPECT_EQ(h.size(), 2u);
  h = histogram(logits_of(kProbs), {1.0f, 0, 0.71f, 3}, 3000);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_TRUE(h.count(3));
}

TEST(Sampler, FullDistributionFrequencies) {
  const auto h = histogram(logits_of(kProbs), {1.0f, 0, 1.0f, 11}, 20000);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(h.at(i) / 20000.0, kProbs[static_cast<size_t>(i)], 0.015) << i;
}

TEST(Sampler, TemperatureSharpens) {
  const auto h = histogram(logits_of(kProbs), {0.25f, 0, 1.0f, 4}, 4000);
  EXPECT_GT(h.at(1) / 4000.0, 0.7);
}

TEST(Sampler, SeedReproduces) {
  const auto l = logits_of(kProbs);
  Sampler a(5, {1.0f, 0, 1.0f, 42}), b(5, {1.0f, 0, 1.0f, 42}), c(5, {1.0f, 0, 1.0f, 43});
  std::vector<int> sa, sb, sc;
  for (int i = 0; i < 64; ++i) sa.push_back(a.sample(l.data())), sb.push_back(b.sample(l.data())), sc.push_back(c.sample(l.data()));
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

TEST(Sampler, LogprobIsLogSoftmax) {
  const auto l = logits_of(kProbs);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(token_logprob(l.data(), 5, i), std::log(kProbs[static_cast<size_t>(i)]), 1e-6);
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW(Sampler(5, {-0.1f, 0, 1.0f, 0}), Error);
  EXPECT_THROW(Sampler(5, {NAN, 0, 1.0f, 0}), Error);
  EXPECT_THROW(Sampler(5, {1.0f, 0, 0.0f, 0}), Error);
  EXPECT_THROW(Sampler(5, {1.0f, 0, 1.5f, 0}), Error);
  EXPECT_THROW(Sampler(5, {1.0f, -1, 1.0f, 0}), Error);
}

}  // namespace
}  // namespace wick
