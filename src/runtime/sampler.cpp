#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "wick/error.h"

namespace wick {

void validate_sampling(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0)
    throw Error(ErrorCode::kInvalidArgument, "temperature must be >= 0, got " + std::to_string(p.temperature));
  if (!(p.top_p > 0 && p.top_p <= 1))
    throw Error(ErrorCode::kInvalidArgument, "top_p must be in (0, 1], got " + std::to_string(p.top_p));
  if (p.top_k < 0) throw Error(ErrorCode::kInvalidArgument, "top_k must be >= 0, got " + std::to_string(p.top_k));
}

float token_logprob(const float* logits, int vocab, int token) {
  float mx = -INFINITY;
  for (int i = 0; i < vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  return static_cast<float>(static_cast<double>(logits[token]) - mx - std::log(sum));
}

Sampler::Sampler(int vocab, const SamplingParams& params)
    : vocab_(vocab), p_(params), greedy_(params.temperature == 0 || params.top_k == 1), rng_(params.seed) {
  validate_sampling(params);
  idx_.resize(static_cast<size_t>(vocab));
  prob_.resize(static_cast<size_t>(vocab));
}

int Sampler::sample(const float* logits) {
  if (greedy_) return static_cast<int>(std::max_element(logits, logits + vocab_) - logits);  // first max
  std::iota(idx_.begin(), idx_.end(), 0);
  auto by_logit = [&](int a, int b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  int n = vocab_;
  if (p_.top_k > 0 && p_.top_k < vocab_) {
    n = p_.top_k;
    std::partial_sort(idx_.begin(), idx_.begin() + n, idx_.end(), by_logit);
  } else if (p_.top_p < 1) {
    std::sort(idx_.begin(), idx_.end(), by_logit);
  }
  // softmax(logits / T) over the candidates, in double.
  const double inv_t = 1.0 / p_.temperature;
  double mx = -INFINITY;
  for (int i = 0; i < n; ++i) mx = std::max(mx, logits[idx_[static_cast<size_t>(i)]] * inv_t);
  double total = 0;
  for (int i = 0; i < n; ++i) total += (prob_[static_cast<size_t>(i)] = std::exp(logits[idx_[static_cast<size_t>(i)]] * inv_t - mx));
  if (p_.top_p < 1) {  // smallest prefix (by probability) whose mass reaches top_p
    double cum = 0;
    int keep = 0;
    while (keep < n) {
      cum += prob_[static_cast<size_t>(keep++)] / total;
      if (cum >= p_.top_p) break;
    }
    n = keep;
    total = 0;
    for (int i = 0; i < n; ++i) total += prob_[static_cast<size_t>(i)];
  }
  // u in [0, 1) from the top 53 bits: reproducible, unlike std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double acc = 0;
  for (int i = 0; i < n; ++i) {
    acc += prob_[static_cast<size_t>(i)];
    if (u < acc) return idx_[static_cast<size_t>(i)];
  }
  return idx_[static_cast<size_t>(n - 1)];
}

}  // namespace wick
