// Drives many sequences on one Engine until each is done: the continuous-batching loop shared
// by generate, generate_batch, generate_candidates, score and encode.
//
// Each step packs, within the engine's token and output-row budgets, one token for every
// sequence that is decoding (first: they are latency-bound) and then chunks of the prompts
// still being prefilled (chunked prefill). A sequence that finishes leaves the batch at once
// and its KV blocks are freed; the others go on.
#pragma once

#include <climits>
#include <functional>
#include <span>
#include <vector>

#include "runtime/decode_state.h"
#include "wick/engine.h"

namespace wick {

struct SeqTask {
  SequenceId seq = -1;          // an engine sequence (the task appends to it)
  std::span<const int> prompt;  // tokens to prefill before decoding
  int prefilled = 0;            // how many of them are in the cache
  // Prompt positions >= rows_from return their output row (logits, or hidden states when
  // `hidden`); below it only the last prompt position does. INT_MAX: just the last one.
  int rows_from = INT_MAX;
  bool hidden = false;
  // Receives output rows of prompt positions pos .. pos+n-1 ([n, width]).
  std::function<void(int pos, const float* rows, int n)> on_prompt_rows;
  DecodeState* decode = nullptr;  // after the prompt: sample and feed tokens until finished
  bool keep_sequence = false;     // leave the sequence in the engine when done (to fork it)
  bool done = false;
  double prefill_seconds = 0;  // from run() to the end of this task's prompt

  // The token to feed while decoding: set by the runner after the prompt, or by the caller for a
  // task without a prompt (a fork of a prefilled sequence that already sampled its first token).
  int next_token = -1;
};

// The next chunk of a prompt being prefilled, within a step's remaining token and logits-row
// budgets: positions [begin, end) and what the step returns for them. Positions >= rows_from
// need output rows (logits, or hidden states when `hidden`, which use no logits rows); the last
// position of the prompt always does. end == begin: nothing of this prompt fits in this step.
struct PromptChunk {
  int end = 0;
  StepOutput output = StepOutput::kNone;
  int logits_rows = 0;
};
PromptChunk next_prompt_chunk(int begin, int size, int rows_from, bool hidden, int tokens_left, int rows_left);

class BatchRunner {
 public:
  explicit BatchRunner(Engine& engine) : engine_(engine) {}
  // Runs every task to completion. On error (thrown), the tasks' sequences are left to the
  // caller to remove (see SequenceGuard).
  void run(std::span<SeqTask*> tasks);

 private:
  Engine& engine_;
  std::vector<StepInput> inputs_;
  std::vector<SeqTask*> owners_;
  std::vector<int> chunk_pos_;
};

// Removes the engine sequences it holds when it goes out of scope (also on errors), so a
// failed request never leaks KV blocks.
class SequenceGuard {
 public:
  explicit SequenceGuard(Engine& engine) : engine_(engine) {}
  ~SequenceGuard() {
    for (SequenceId s : ids_) engine_.remove_sequence(s);
  }
  SequenceId add(SequenceId s) {
    ids_.push_back(s);
    return s;
  }
  SequenceGuard(const SequenceGuard&) = delete;
  SequenceGuard& operator=(const SequenceGuard&) = delete;

 private:
  Engine& engine_;
  std::vector<SequenceId> ids_;
};

}  // namespace wick
