#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "wick/error.h"

namespace wick {

void validate_sampling(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0)
    throw Error(ErrorCode::kInvalidArgument, "temperature must be >= 0, got " + std::to_string(p.temperature));
  if (!(p.top_p > 0 && p.top_p <= 1)) throw Error(ErrorCode::kInvalidArgument, "top_p must be in (0, 1], got " + std::to_string(p.top_p));
  if (p.top_k < 0) throw Error(ErrorCode::kInvalidArgument, "top_k must be >= 0, got " + std::to_string(p.top_k));
  if (!(p.min_p >= 0 && p.min_p <= 1)) throw Error(ErrorCode::kInvalidArgument, "min_p must be in [0, 1], got " + std::to_string(p.min_p));
  if (!(p.repetition_penalty > 0) || !std::isfinite(p.repetition_penalty))
    throw Error(ErrorCode::kInvalidArgument, "repetition_penalty must be > 0, got " + std::to_string(p.repetition_penalty));
  if (!std::isfinite(p.presence_penalty) || !std::isfinite(p.frequency_penalty))
    throw Error(ErrorCode::kInvalidArgument, "presence_penalty and frequency_penalty must be finite");
}

uint64_t sequence_seed(uint64_t seed, int index) {
  // splitmix64 of seed + (index + 1) * golden ratio: well-separated streams for nearby seeds.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(index) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double log_sum_exp(const float* logits, int vocab) {
  float mx = -INFINITY;
  for (int i = 0; i < vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  return mx + std::log(sum);
}

float token_logprob(const float* logits, int vocab, int token) {
  return static_cast<float>(static_cast<double>(logits[token]) - log_sum_exp(logits, vocab));
}

void top_logprobs(const float* logits, int vocab, int n, double lse, std::vector<TokenLogprob>& out) {
  out.clear();
  n = std::min(n, vocab);
  if (n <= 0) return;
  // A bounded selection: keep the n best seen so far in `out`, sorted, worst last.
  auto better = [&](int a, int b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < vocab; ++i) {
    if (static_cast<int>(out.size()) == n && !better(i, out.back().token)) continue;
    if (static_cast<int>(out.size()) == n) out.pop_back();
    auto pos = std::lower_bound(out.begin(), out.end(), i, [&](const TokenLogprob& t, int id) { return better(t.token, id); });
    out.insert(pos, TokenLogprob{i, 0});
  }
  for (auto& t : out) t.logprob = static_cast<float>(static_cast<double>(logits[t.token]) - lse);
}

Sampler::Sampler(int vocab, const SamplingParams& params)
    : vocab_(vocab), p_(params), greedy_(params.temperature == 0 || params.top_k == 1), rng_(params.seed) {
  validate_sampling(params);
  idx_.resize(static_cast<size_t>(vocab));
  prob_.resize(static_cast<size_t>(vocab));
  if (penalized()) {
    work_.resize(static_cast<size_t>(vocab));
    counts_.assign(static_cast<size_t>(vocab), 0);
    in_prompt_.assign(static_cast<size_t>(vocab), 0);
    seen_.reserve(static_cast<size_t>(vocab));
  }
}

bool Sampler::penalized() const { return p_.repetition_penalty != 1.0f || p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f; }

void Sampler::set_prompt(const std::vector<int>& prompt) {
  if (!penalized()) return;
  for (int t : prompt) {
    if (t < 0 || t >= vocab_ || in_prompt_[static_cast<size_t>(t)]) continue;
    if (counts_[static_cast<size_t>(t)] == 0) seen_.push_back(t);
    in_prompt_[static_cast<size_t>(t)] = 1;
  }
}

void Sampler::apply_penalties(float* z) const {
  for (int t : seen_) {
    float& v = z[t];
    const int c = counts_[static_cast<size_t>(t)];
    if (p_.repetition_penalty != 1.0f) v = v > 0 ? v / p_.repetition_penalty : v * p_.repetition_penalty;
    if (c > 0) v -= p_.frequency_penalty * static_cast<float>(c) + p_.presence_penalty;
  }
}

// The stages of sample(), in transformers' LogitsProcessor order: penalties, temperature,
// top-k, top-p, min-p, then one draw. Candidates live in idx_[0..n) (ids, most likely first) and
// prob_[0..n) (their unnormalized softmax(z / T) probabilities, in double).

const float* Sampler::penalize(const float* raw) {
  if (!penalized()) return raw;
  std::copy(raw, raw + vocab_, work_.begin());
  apply_penalties(work_.data());
  return work_.data();
}

int Sampler::order_candidates(const float* z, double inv_t, double mx, double* top_p_base) {
  auto by_logit = [&](int a, int b) { return z[a] != z[b] ? z[a] > z[b] : a < b; };
  std::iota(idx_.begin(), idx_.end(), 0);
  *top_p_base = 0;  // the mass top_p is a fraction of (top-k's survivors, else every token)
  if (p_.top_k > 0 && p_.top_k < vocab_) {
    std::partial_sort(idx_.begin(), idx_.begin() + p_.top_k, idx_.end(), by_logit);
    return p_.top_k;
  }
  if (p_.top_p < 1) {
    // Sort only a prefix when it already holds top_p of the mass (the usual case); exact
    // either way, since the prefix is the most likely tokens.
    double total = 0;
    for (int i = 0; i < vocab_; ++i) total += std::exp(z[i] * inv_t - mx);
    const int k = std::min(vocab_, 1024);
    std::partial_sort(idx_.begin(), idx_.begin() + k, idx_.end(), by_logit);
    double head = 0;
    for (int i = 0; i < k; ++i) head += std::exp(z[idx_[static_cast<size_t>(i)]] * inv_t - mx);
    *top_p_base = total;
    if (head < p_.top_p * total && k < vocab_) {
      std::sort(idx_.begin(), idx_.end(), by_logit);
      return vocab_;
    }
    return k;
  }
  return vocab_;
}

double Sampler::softmax_candidates(const float* z, int n, double inv_t, double mx) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += (prob_[static_cast<size_t>(i)] = std::exp(z[idx_[static_cast<size_t>(i)]] * inv_t - mx));
  return total;
}

int Sampler::keep_top_p(int n, double base) const {  // smallest prefix whose mass reaches top_p
  if (p_.top_p >= 1) return n;
  double cum = 0;
  int keep = 0;
  while (keep < n) {
    cum += prob_[static_cast<size_t>(keep++)];
    if (cum >= p_.top_p * base) break;
  }
  return keep;
}

int Sampler::keep_min_p(int n) {  // MinPLogitsWarper: drop p < min_p * p_max (compaction keeps the order)
  if (p_.min_p <= 0) return n;
  double best = 0;
  for (int i = 0; i < n; ++i) best = std::max(best, prob_[static_cast<size_t>(i)]);
  const double floor = p_.min_p * best;
  int w = 0;
  for (int i = 0; i < n; ++i)
    if (prob_[static_cast<size_t>(i)] >= floor) {
      idx_[static_cast<size_t>(w)] = idx_[static_cast<size_t>(i)];
      prob_[static_cast<size_t>(w++)] = prob_[static_cast<size_t>(i)];
    }
  return w;
}

int Sampler::draw(int n, double* total_out) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += prob_[static_cast<size_t>(i)];
  *total_out = total;
  // u in [0, total) from the top 53 bits: reproducible, unlike std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
  double acc = 0;
  for (int i = 0; i < n; ++i) {
    acc += prob_[static_cast<size_t>(i)];
    if (u < acc) return i;
  }
  return n - 1;
}

SampledToken Sampler::sample(const float* raw) {
  const float* z = penalize(raw);
  SampledToken out;
  if (greedy_) {
    out.token = static_cast<int>(std::max_element(z, z + vocab_) - z);  // the first maximum
  } else {
    const double inv_t = 1.0 / p_.temperature;
    double mx = -INFINITY;
    for (int i = 0; i < vocab_; ++i) mx = std::max(mx, z[i] * inv_t);
    double top_p_base = 0;
    int n = order_candidates(z, inv_t, mx, &top_p_base);
    const double total = softmax_candidates(z, n, inv_t, mx);
    n = keep_top_p(n, top_p_base == 0 ? total : top_p_base);
    n = keep_min_p(n);
    double kept = 0;
    const int pick = draw(n, &kept);
    out.token = idx_[static_cast<size_t>(pick)];
    out.processed_logprob = static_cast<float>(std::log(prob_[static_cast<size_t>(pick)] / kept));
  }
  out.log_z = log_sum_exp(raw, vocab_);
  out.logprob = static_cast<float>(static_cast<double>(raw[out.token]) - out.log_z);
  if (penalized()) {
    if (counts_[static_cast<size_t>(out.token)]++ == 0 && !in_prompt_[static_cast<size_t>(out.token)]) seen_.push_back(out.token);
  }
  return out;
}

}  // namespace wick
