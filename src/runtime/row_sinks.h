// What a prompt's output rows become: prompt log-probs, a teacher-forced score, a pooled
// embedding. One implementation each, shared by the library calls (Generator, Embedder) and
// the scheduler's requests (the server), so both give bit-identical results.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "wick/embedder.h"
#include "wick/generator.h"

namespace wick {

using RowSink = std::function<void(int pos, const float* rows, int n)>;

// log p(prompt[p + 1] | prompt[..p]) into out[p] for every prompt position p < size - 1, from
// logits rows [n, vocab] of positions pos .. pos+n-1, and with top_n > 0 the top_n most likely
// tokens there into (*top)[p]. `prompt`, `out` and `top` must outlive the sink.
RowSink prompt_logprob_sink(const std::vector<int>& prompt, int vocab, std::vector<float>& out, int top_n = 0,
                            std::vector<std::vector<TokenLogprob>>* top = nullptr);

// Teacher forcing: `out.tokens` (the continuation) follows `out.prompt_tokens`; logits rows of
// positions >= prompt size - 1 give out.logprobs and out.greedy. Call finish() after the rows.
class ScoreSink {
 public:
  ScoreSink(ScoreResult& out, int vocab);
  void operator()(int pos, const float* rows, int n);
  void finish();
  int first_position() const { return first_; }  // the position whose logits predict tokens[0]

 private:
  ScoreResult& out_;
  int vocab_;
  int first_;
};

// Mean or last pooling of hidden rows [n, hidden] over a text of `count` tokens, accumulated in
// double in position order.
class PoolingSink {
 public:
  PoolingSink(int hidden, int count, Pooling pooling);
  void operator()(int pos, const float* rows, int n);
  void reset();  // the rows will be delivered again (the request was preempted)
  // The embedding; an all-zero or non-finite vector is an error naming `what`.
  std::vector<float> finish(bool normalize, const std::string& what) const;

 private:
  int hidden_, count_;
  Pooling pooling_;
  std::vector<double> sum_;
};

}  // namespace wick
