#include "runtime/row_sinks.h"

#include <algorithm>
#include <cmath>

#include "runtime/sampler.h"

namespace wick {

RowSink prompt_logprob_sink(const std::vector<int>& prompt, int vocab, std::vector<float>& out, int top_n,
                            std::vector<std::vector<TokenLogprob>>* top) {
  out.assign(prompt.size() - 1, 0.0f);
  if (top) top->assign(prompt.size() - 1, {});
  return [&prompt, vocab, &out, top_n, top](int pos, const float* rows, int n) {
    for (int i = 0; i < n; ++i) {
      const int p = pos + i;
      if (p + 1 >= static_cast<int>(prompt.size())) break;
      const float* row = rows + static_cast<int64_t>(i) * vocab;
      const double lse = log_sum_exp(row, vocab);
      out[static_cast<size_t>(p)] = static_cast<float>(row[prompt[static_cast<size_t>(p + 1)]] - lse);
      if (top && top_n > 0) top_logprobs(row, vocab, top_n, lse, (*top)[static_cast<size_t>(p)]);
    }
  };
}

ScoreSink::ScoreSink(ScoreResult& out, int vocab) : out_(out), vocab_(vocab), first_(static_cast<int>(out.prompt_tokens.size()) - 1) {
  out_.logprobs.assign(out_.tokens.size(), 0.0f);
  out_.greedy = true;
  out_.logprob = 0;
}

void ScoreSink::operator()(int pos, const float* rows, int n) {
  for (int i = 0; i < n; ++i) {
    const int k = pos + i - first_;  // index into the continuation
    if (k < 0 || k >= static_cast<int>(out_.tokens.size())) continue;
    const float* row = rows + static_cast<int64_t>(i) * vocab_;
    const int tok = out_.tokens[static_cast<size_t>(k)];
    out_.logprobs[static_cast<size_t>(k)] = static_cast<float>(row[tok] - log_sum_exp(row, vocab_));
    if (static_cast<int>(std::max_element(row, row + vocab_) - row) != tok) out_.greedy = false;
  }
}

void ScoreSink::finish() {
  out_.logprob = 0;
  for (float lp : out_.logprobs) out_.logprob += lp;
}

PoolingSink::PoolingSink(int hidden, int count, Pooling pooling)
    : hidden_(hidden), count_(count), pooling_(pooling), sum_(static_cast<size_t>(hidden), 0.0) {}

void PoolingSink::operator()(int pos, const float* rows, int n) {
  for (int r = 0; r < n; ++r) {
    if (pooling_ == Pooling::kLast && pos + r != count_ - 1) continue;
    const float* h = rows + static_cast<int64_t>(r) * hidden_;
    for (int c = 0; c < hidden_; ++c) sum_[static_cast<size_t>(c)] += h[c];
  }
}

void PoolingSink::reset() { std::fill(sum_.begin(), sum_.end(), 0.0); }

std::vector<float> PoolingSink::finish(bool normalize, const std::string& what) const {
  const double count = pooling_ == Pooling::kMean ? static_cast<double>(count_) : 1.0;
  std::vector<float> v(static_cast<size_t>(hidden_));
  double norm2 = 0;
  for (int c = 0; c < hidden_; ++c) {
    const double x = sum_[static_cast<size_t>(c)] / count;
    v[static_cast<size_t>(c)] = static_cast<float>(x);
    norm2 += x * x;
  }
  if (!std::isfinite(norm2)) throw Error(ErrorCode::kInternal, "encode: " + what + " gave a non-finite embedding");
  if (norm2 == 0) throw Error(ErrorCode::kInternal, "encode: " + what + " gave an all-zero embedding");
  if (normalize) {
    const double inv = 1.0 / std::sqrt(norm2);
    for (int c = 0; c < hidden_; ++c) v[static_cast<size_t>(c)] = static_cast<float>(sum_[static_cast<size_t>(c)] / count * inv);
  }
  return v;
}

}  // namespace wick
