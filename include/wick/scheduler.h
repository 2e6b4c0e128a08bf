// The serving loop: a persistent scheduler that owns one Engine and runs it on its own thread,
// forever, for requests that arrive at any time (the HTTP server, a proof-search worker).
//
// Each iteration admits waiting requests (between steps, first come first served, when sequence
// slots and KV blocks allow), builds one step — one token for every decoding sequence first,
// then chunks of the prompts being prefilled with the rest of the token budget, so a long prompt
// never stalls running streams (chunked prefill) — runs it, samples, and hands the results to
// the requests' callbacks. A finished or cancelled request leaves at once and frees its blocks.
//
// Prefix caching: the KV blocks of every full block of tokens stay indexed by their prefix, so
// a request that starts like an earlier one (the same prompt header, the same system prompt)
// prefills only what is new. When the KV pool cannot hold the next step, the youngest running
// request is preempted: its blocks are freed and it is recomputed later from its prompt and the
// tokens it had generated, which gives exactly the tokens an unpreempted run gives (keys and
// values do not depend on the batch, and each choice keeps its own sampler state).
//
// Results equal the library's: a request with n = 1 and seed s generates what
// Generator::generate gives with seed s; n > 1 gives what generate_candidates gives (choice i
// samples with sequence_seed(s, i)), before deduplication.
#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wick/engine.h"
#include "wick/generate.h"

namespace wick {

struct SchedulerOptions {
  EngineOptions engine;   // engine.prefix_cache is honoured (on by default here)
  int max_waiting = 256;  // requests waiting for admission beyond which submit() refuses
  SchedulerOptions() { engine.prefix_cache = true; }
};

// One sampled token of one choice, as it is produced.
struct TokenEvent {
  int choice = 0;
  int token = -1;
  float logprob = 0;                               // log p under the model's unmodified distribution
  const std::vector<TokenLogprob>* top = nullptr;  // the step's most likely tokens (params.top_logprobs)
  std::string text;                                // text this token completed (may be empty: an incomplete UTF-8 character or a
                                                   // possible stop-string prefix is held back); pieces concatenate to the result's text
  bool last = false;                               // the choice finished with this token
};

// Every callback runs on the scheduler thread, between steps: keep them short (e.g. push to a
// queue another thread writes from).
struct RequestCallbacks {
  // Output rows of prompt positions pos .. pos+n-1 ([n, width]: logits, or hidden states with
  // SchedulerRequest::hidden), for positions >= rows_from.
  std::function<void(int pos, const float* rows, int n)> on_prompt_rows;
  // The request was preempted before its prompt was done: the rows will be delivered again.
  std::function<void()> on_restart;
  std::function<void(const TokenEvent&)> on_token;
  // A choice finished (its result's finish_reason says why).
  std::function<void(int choice, GenerateResult&& result)> on_choice_done;
  // Exactly once, last: nullptr when every choice finished, else why the request ended
  // (kCancelled, or an engine error).
  std::function<void(const Error* error)> on_done;
};

struct SchedulerRequest {
  std::vector<int> prompt;
  int n = 1;                    // choices sampled from the one prompt (its KV blocks shared)
  GenerateParams params;        // params.on_text is not used (see RequestCallbacks::on_token);
                                // max_new_tokens 0: prompt only (scoring, embeddings)
  std::vector<uint64_t> seeds;  // per choice; empty: params.sampling.seed when n == 1, else
                                // sequence_seed(params.sampling.seed, i)
  int rows_from = INT_MAX;      // prompt positions >= rows_from return rows to on_prompt_rows
  bool hidden = false;          // those rows are final-norm hidden states instead of logits
  RequestCallbacks callbacks;
};

using RequestId = uint64_t;

struct SchedulerStats {
  int running = 0;  // requests admitted and not finished
  int waiting = 0;  // requests queued for admission (preempted ones included)
  int live_sequences = 0;
  KvCacheStats kv;
  uint64_t prompt_tokens = 0;         // prompt tokens of admitted requests (each request once)
  uint64_t prefix_cache_queries = 0;  // prompt tokens looked up in the prefix cache
  uint64_t prefix_cache_hits = 0;     // of those, tokens whose KV came from the cache
  uint64_t generation_tokens = 0;     // sampled tokens
  uint64_t preemptions = 0;
  uint64_t steps = 0;
  uint64_t finished = 0, cancelled = 0, failed = 0;
};

class Scheduler {
 public:
  static Result<std::unique_ptr<Scheduler>> create(std::shared_ptr<const Model> model, const SchedulerOptions& opts = {});
  // Cancels whatever is still queued or running (on_done with kCancelled) and stops the thread.
  ~Scheduler();

  // Checks the request (sampling values, n, prompt + max_new_tokens within the context, room
  // in the KV pool) and queues it. kInvalidArgument for a bad request, kResourceExhausted when
  // max_waiting requests are already queued.
  Result<RequestId> submit(SchedulerRequest request);
  // Ends a queued or running request (its on_done gets kCancelled); unknown ids are ignored.
  void cancel(RequestId id);
  // Ends every queued and running request (on_done with kCancelled), e.g. at shutdown.
  void cancel_all();

  SchedulerStats stats() const;
  bool idle() const;  // nothing queued or running
  const Model& model() const;
  const EngineOptions& engine_options() const;  // with the defaults resolved
  int max_choices() const;                      // the largest n a request may ask for

  struct Impl;

 private:
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wick
