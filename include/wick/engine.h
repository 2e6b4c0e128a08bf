// The batched runtime: many sequences on one block KV cache, advanced together by one forward
// pass per step. This is what the generator, the embedder and (later) the HTTP worker schedule
// on. Continuous batching is a loop of: add / fork / remove sequences, then step() with the
// tokens each live sequence needs next (a prefill chunk for a new one, one token for one that
// is decoding). Everything is allocated by create(); step() allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "wick/model.h"

namespace wick {

struct EngineOptions {
  std::string device = "auto";   // "cpu", "cuda[:N]", "auto" (the best the machine has; `wick devices`) or "reference" (checking)
  int n_threads = 0;             // 0: all cores
  int context_length = 0;        // longest sequence; 0: the model's maximum, capped at 8192
  int max_batch_tokens = 256;    // tokens in one forward pass (all sequences together)
  int max_logits_rows = 64;      // rows of logits one step can return (hidden-state rows: up to
                                 // max_batch_tokens)
  int max_sequences = 64;        // sequences alive at once
  int kv_block_size = 16;        // tokens per KV block
  int kv_cache_tokens = 0;       // size of the KV pool in tokens; 0: max(context_length, 4096)
  std::string kv_dtype = "f32";  // "f32", or "f16": half the KV memory and bandwidth, keys and
                                 // values rounded to half precision (logits differ slightly)
  // Prefix caching: full KV blocks stay indexed by their token prefix after their sequence
  // ends, and reuse_prefix() shares them with a later sequence that starts with the same
  // tokens; they are evicted least-recently-used when the pool needs room. Keys and values do
  // not depend on the batch they were computed in, so a reused prefix gives bit-identical
  // results. Off by default; the scheduler turns it on.
  bool prefix_cache = false;
  // false: the engine only runs whole prompts (embeddings, scoring), never one-token decode
  // steps, so weight layouts that speed up decode at a load-time cost are skipped (the CPU's
  // packed block-quantized matrices: ~1 s per GB to pack, 1-3% faster prefill). For one-shot
  // commands; a process that also decodes the same model should leave it true (one copy).
  bool decodes = true;
};

using SequenceId = int32_t;

// What a step returns for one input.
enum class StepOutput {
  kNone,        // only extend the KV cache
  kLastLogits,  // logits of the input's last token: [1, vocab]
  kAllLogits,   // logits of every token of the input: [n, vocab] (scoring, prompt log-probs)
  kLastHidden,  // final-norm hidden state of the last token: [1, hidden] (embeddings)
  kAllHidden,   // final-norm hidden states of every token: [n, hidden]
};

struct StepInput {
  SequenceId seq = -1;
  const int* tokens = nullptr;  // appended at the sequence's current length
  int n_tokens = 0;
  StepOutput output = StepOutput::kLastLogits;
};

// Block accounting, e.g. to check that forked sequences share their prompt's blocks.
struct KvCacheStats {
  int block_size = 0;
  int total_blocks = 0;
  int used_blocks = 0;    // referenced by live sequences
  int free_blocks = 0;    // available to new tokens (includes cached_blocks)
  int cached_blocks = 0;  // prefix cache: unreferenced blocks kept for reuse, evicted first-in LRU order
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(std::shared_ptr<const Model> model, const EngineOptions& opts = {});
  ~Engine();

  // A new, empty sequence.
  Result<SequenceId> add_sequence();
  // A new sequence continuing `parent`: it shares every KV block of the parent (nothing is
  // copied; a shared partially filled block is copied only when one of them writes to it).
  Result<SequenceId> fork_sequence(SequenceId parent);
  // Frees the sequence and its references to KV blocks. Unknown ids are ignored.
  void remove_sequence(SequenceId seq);
  // Empties a sequence (its blocks are released) but keeps its id.
  void clear_sequence(SequenceId seq);
  // Keeps the first `length` tokens of a sequence (0 <= length <= its length) and drops the
  // keys and values after them, e.g. to try another continuation of a prompt; returns length.
  // Forks and cached prefixes sharing its blocks are not changed.
  Result<int> truncate_sequence(SequenceId seq, int length);
  int sequence_length(SequenceId seq) const;
  // Prefix caching: how many leading tokens of `tokens` cached blocks hold (whole blocks, at
  // most max_tokens), and attaching them to an empty sequence, which then continues from that
  // length. Both return 0 without EngineOptions::prefix_cache.
  int cached_prefix_tokens(std::span<const int> tokens, int max_tokens) const;
  Result<int> reuse_prefix(SequenceId seq, std::span<const int> tokens, int max_tokens);
  // Free KV blocks a step would take to grow `seq` to new_length (fresh blocks plus a
  // copy-on-write copy of a shared partial block), for schedulers that check before stepping.
  int blocks_needed(SequenceId seq, int new_length) const;
  int live_sequences() const;

  // One forward pass over all inputs (each sequence at most once). Checks everything (ids,
  // token ids, lengths, batch limits, free KV blocks) before changing any state, so a failed
  // step leaves every sequence as it was. Returns the number of tokens processed.
  Result<int> step(std::span<const StepInput> inputs);
  // The rows step() returned for inputs[i], valid until the next step: [rows, width]
  // (width = vocab for logits, hidden size for hidden states).
  const float* output(int input_index) const;
  int output_rows(int input_index) const;

  KvCacheStats kv_stats() const;
  const EngineOptions& options() const;  // with the defaults resolved
  const Model& model() const;
  std::string backend_name() const;
  void set_activation_hook(ActivationCallback hook);

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wick
