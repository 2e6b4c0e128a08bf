#include "runtime/batch_runner.h"

#include <algorithm>
#include <chrono>

namespace wick {

PromptChunk next_prompt_chunk(int a, int size, int rows_from, bool hidden, int tokens_left, int rows_left) {
  int b = std::min(size, a + tokens_left);
  const int from = std::min(rows_from, size - 1);  // the last position always has a row
  StepOutput out = StepOutput::kNone;
  if (b - 1 >= from) {
    if (a >= from) {  // every position of the chunk returns a row
      if (!hidden) {
        if (rows_left == 0) return {a, StepOutput::kNone, 0};
        b = std::min(b, a + rows_left);
      }
      out = hidden ? StepOutput::kAllHidden : StepOutput::kAllLogits;
    } else if (from == b - 1) {  // only the chunk's last position
      if (rows_left == 0 && !hidden) return {a, StepOutput::kNone, 0};
      out = hidden ? StepOutput::kLastHidden : StepOutput::kLastLogits;
    } else {
      b = from;  // stop before the first position with rows
    }
  }
  const int rows = out == StepOutput::kAllLogits ? b - a : out == StepOutput::kLastLogits ? 1 : 0;
  return {b, out, rows};
}

void BatchRunner::run(std::span<SeqTask*> tasks) {
  const EngineOptions& o = engine_.options();
  for (SeqTask* t : tasks)
    if (t->prompt.empty() && !t->done && (t->next_token < 0 || !t->decode))
      throw Error(ErrorCode::kInvalidArgument, "a sequence has no prompt tokens");
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    inputs_.clear();
    owners_.clear();
    chunk_pos_.clear();
    int tokens_left = o.max_batch_tokens, rows_left = o.max_logits_rows;  // rows: of logits
    // Decoding sequences first: one token and one row each.
    for (SeqTask* t : tasks) {
      if (t->done || t->prefilled < static_cast<int>(t->prompt.size())) continue;
      if (tokens_left == 0 || rows_left == 0) break;
      inputs_.push_back({t->seq, &t->next_token, 1, StepOutput::kLastLogits});
      owners_.push_back(t);
      chunk_pos_.push_back(-1);
      --tokens_left, --rows_left;
    }
    // Then prompt chunks.
    for (SeqTask* t : tasks) {
      const int size = static_cast<int>(t->prompt.size());
      if (t->done || t->prefilled >= size || tokens_left == 0) continue;
      const int a = t->prefilled;
      const PromptChunk c = next_prompt_chunk(a, size, t->rows_from, t->hidden, tokens_left, rows_left);
      if (c.end == a) continue;
      inputs_.push_back({t->seq, t->prompt.data() + a, c.end - a, c.output});
      owners_.push_back(t);
      chunk_pos_.push_back(a);
      tokens_left -= c.end - a;
      rows_left -= c.logits_rows;
    }
    if (inputs_.empty()) break;
    auto r = engine_.step(inputs_);
    if (!r) throw r.error();
    for (size_t i = 0; i < inputs_.size(); ++i) {
      SeqTask* t = owners_[i];
      const float* rows = engine_.output(static_cast<int>(i));
      const int n_rows = engine_.output_rows(static_cast<int>(i));
      const float* last = rows ? rows + static_cast<int64_t>(n_rows - 1) *
                                            (t->hidden ? engine_.model().config().hidden_size : engine_.model().config().vocab_size)
                               : nullptr;
      if (chunk_pos_[i] >= 0) {  // a prompt chunk
        const int a = chunk_pos_[i], n = inputs_[i].n_tokens;
        t->prefilled = a + n;
        if (rows && t->on_prompt_rows) t->on_prompt_rows(a + n - n_rows, rows, n_rows);
        if (t->prefilled < static_cast<int>(t->prompt.size())) continue;
        t->prefill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!t->decode || t->decode->finished()) {
          t->done = true;
        } else {
          t->next_token = t->decode->step(last);
          t->done = t->decode->finished();
        }
      } else {  // a decode step
        t->next_token = t->decode->step(last);
        t->done = t->decode->finished();
      }
      if (t->done && !t->keep_sequence) {
        engine_.remove_sequence(t->seq);  // its blocks are free for the sequences still running
        t->seq = -1;
      }
    }
  }
}

}  // namespace wick
