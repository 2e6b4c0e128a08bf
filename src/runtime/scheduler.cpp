#include "wick/scheduler.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "runtime/batch_runner.h"
#include "runtime/decode_state.h"
#include "core/limits.h"

namespace wick {
namespace {

// One choice of a request: a sequence that prefills `feed` and then decodes.
struct Choice {
  int index = 0;
  uint64_t seed = 0;
  GenerateParams params;                // the request's; on_text appends to `pending`
  std::unique_ptr<DecodeState> decode;  // null for prompt-only requests
  std::string pending;                  // text completed by the token being sampled
  SequenceId seq = -1;
  std::vector<int> feed;  // tokens to put in the cache before sampling: the prompt, or after a
                          // preemption the prompt and every token generated so far
  int fed = 0;            // tokens of feed in the cache
  int next_token = -1;    // while decoding: the sampled token to feed next
  bool done = false;
};

struct Req {
  RequestId id = 0;
  SchedulerRequest r;
  std::vector<std::unique_ptr<Choice>> choices;
  // Choice 0 is prefilling the prompt; the other choices fork its sequence when it is done.
  bool prompt_phase = true;
  bool rows_delivered = false;
  bool prompt_counted = false;
  bool decodes() const { return r.params.max_new_tokens > 0; }
  int unfinished() const {
    int n = 0;
    for (const auto& c : choices) n += c->done ? 0 : 1;
    return n;
  }
};

int blocks_for(int64_t tokens, int block) { return static_cast<int>((tokens + block - 1) / block); }

}  // namespace

struct Scheduler::Impl {
  std::unique_ptr<Engine> engine;
  SchedulerOptions opts;
  int width_logits = 0, width_hidden = 0;

  // Shared with the threads that submit and cancel.
  mutable std::mutex mu;
  std::condition_variable wake;
  std::deque<std::unique_ptr<Req>> incoming;
  std::vector<RequestId> cancels;
  bool cancel_everything = false;
  bool stopping = false;
  RequestId next_id = 1;
  int n_waiting = 0;      // submitted or preempted, not admitted (incoming + waiting)
  int n_active = 0;       // submitted and not ended
  SchedulerStats shared;  // a snapshot, refreshed every iteration
  std::thread thread;

  // The scheduler thread's own state.
  std::deque<std::unique_ptr<Req>> waiting;   // preempted requests go back to the front
  std::vector<std::unique_ptr<Req>> running;  // in admission order: the last is the youngest
  std::vector<StepInput> inputs;
  std::vector<Choice*> owners;
  std::vector<Req*> owner_reqs;
  std::vector<int> chunk_begin;  // -1: a decode token
  SchedulerStats st;

  void loop();
  bool take_incoming();
  void admit();
  bool build_step();
  void process_step();
  void sample(Req& q, Choice& c, const float* logits);
  void finish_prompt(Req& q, const float* logits);
  void preempt(std::unique_ptr<Req> q);
  void release(Req& q);
  void end(Req& q, const Error* error);
  void end_running(size_t i, const Error* error);
  int reusable(const Req& q, const Choice& c) const;
  int blocks_to_admit(const Req& q) const;
  void publish();
};

namespace {

// The longest prefix of a choice's feed that may come from the prefix cache: the last token
// must be computed (its logits are needed), and so must every prompt position that returns
// rows.
int reusable_tokens(const SchedulerRequest& r, bool prompt_phase, const Choice& c) {
  int max = static_cast<int>(c.feed.size()) - 1;
  if (prompt_phase && r.callbacks.on_prompt_rows) max = std::min(max, r.rows_from);
  return std::max(max, 0);
}

}  // namespace

int Scheduler::Impl::reusable(const Req& q, const Choice& c) const { return reusable_tokens(q.r, q.prompt_phase, c); }

int Scheduler::Impl::blocks_to_admit(const Req& q) const {
  const int block = opts.engine.kv_block_size;
  int need = 0;
  for (const auto& c : q.choices) {
    if (c->done || c->feed.empty() || (q.prompt_phase && c->index != 0)) continue;
    const int cached = engine->cached_prefix_tokens(c->feed, reusable(q, *c));
    need += blocks_for(static_cast<int64_t>(c->feed.size()), block) - cached / block;
  }
  return need;
}

void Scheduler::Impl::publish() {
  st.running = static_cast<int>(running.size());
  st.live_sequences = engine->live_sequences();
  st.kv = engine->kv_stats();
  std::lock_guard<std::mutex> lock(mu);
  st.waiting = n_waiting;
  shared = st;
}

bool Scheduler::Impl::take_incoming() {
  std::vector<RequestId> to_cancel;
  {
    std::unique_lock<std::mutex> lock(mu);
    if (!stopping && incoming.empty() && cancels.empty() && waiting.empty() && running.empty()) {
      wake.wait(lock, [&] { return stopping || !incoming.empty() || !cancels.empty() || cancel_everything; });
    }
    if (stopping) return false;
    if (cancel_everything) {
      cancel_everything = false;
      for (const auto& q : running) cancels.push_back(q->id);
      for (const auto& q : waiting) cancels.push_back(q->id);
      for (const auto& q : incoming) cancels.push_back(q->id);
    }
    while (!incoming.empty()) {
      waiting.push_back(std::move(incoming.front()));
      incoming.pop_front();
    }
    to_cancel.swap(cancels);
  }
  const Error cancelled(ErrorCode::kCancelled, "the request was cancelled");
  for (RequestId id : to_cancel) {
    for (size_t i = 0; i < running.size(); ++i)
      if (running[i]->id == id) {
        end_running(i, &cancelled);
        break;
      }
    for (auto it = waiting.begin(); it != waiting.end(); ++it)
      if ((*it)->id == id) {
        std::unique_ptr<Req> q = std::move(*it);
        waiting.erase(it);
        {
          std::lock_guard<std::mutex> lock(mu);
          --n_waiting;
        }
        end(*q, &cancelled);
        break;
      }
  }
  return true;
}

void Scheduler::Impl::end(Req& q, const Error* error) {
  if (!error)
    ++st.finished;
  else if (error->code() == ErrorCode::kCancelled)
    ++st.cancelled;
  else
    ++st.failed;
  {
    std::lock_guard<std::mutex> lock(mu);
    --n_active;
  }
  publish();  // whoever the callback wakes sees the blocks already freed
  if (q.r.callbacks.on_done) q.r.callbacks.on_done(error);
}

void Scheduler::Impl::release(Req& q) {
  for (auto& c : q.choices)
    if (c->seq >= 0) {
      engine->remove_sequence(c->seq);
      c->seq = -1;
    }
}

void Scheduler::Impl::end_running(size_t i, const Error* error) {
  std::unique_ptr<Req> q = std::move(running[i]);
  running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
  release(*q);
  end(*q, error);
}

void Scheduler::Impl::admit() {
  const int max_seqs = opts.engine.max_sequences;
  int slots = 0, decoding = 0;
  for (const auto& q : running) {
    slots += q->unfinished();
    for (const auto& c : q->choices) decoding += (c->seq >= 0 && !c->done && c->next_token >= 0) ? 1 : 0;
  }
  while (!waiting.empty()) {
    Req& q = *waiting.front();
    const int need_slots = q.unfinished();
    if (slots + need_slots > max_seqs) break;
    // Leave a block for every decoding sequence, so admitting does not force a preemption on
    // the next step; with nothing running the whole pool is available.
    const int need_blocks = blocks_to_admit(q);
    const int free = engine->kv_stats().free_blocks;
    if (!running.empty() && need_blocks + decoding > free) break;
    if (need_blocks > free) break;
    for (auto& c : q.choices) {
      if (c->done || (q.prompt_phase && c->index != 0)) continue;
      c->seq = engine->add_sequence().value();
      const int max_reuse = reusable(q, *c);
      c->fed = engine->reuse_prefix(c->seq, c->feed, max_reuse).value();
      if (!q.prompt_counted) {
        st.prompt_tokens += q.r.prompt.size();
        q.prompt_counted = true;
      }
      st.prefix_cache_queries += c->feed.size();
      st.prefix_cache_hits += static_cast<uint64_t>(c->fed);
    }
    slots += need_slots;
    running.push_back(std::move(waiting.front()));
    waiting.pop_front();
    std::lock_guard<std::mutex> lock(mu);
    --n_waiting;
  }
}

// A preempted request gives back every block and waits at the front of the queue; its
// unfinished choices will prefill their prompt and generated tokens again.
void Scheduler::Impl::preempt(std::unique_ptr<Req> q) {
  release(*q);
  ++st.preemptions;
  if (q->prompt_phase) {
    Choice& first = *q->choices[0];
    first.fed = 0;
    if (q->rows_delivered && q->r.callbacks.on_restart) q->r.callbacks.on_restart();
    q->rows_delivered = false;
  } else {
    for (auto& c : q->choices) {
      if (c->done) continue;
      c->feed = q->r.prompt;
      const auto& generated = c->decode->result().tokens;  // the last one is next_token, not yet fed
      c->feed.insert(c->feed.end(), generated.begin(), generated.end());
      c->fed = 0;
      c->next_token = -1;
    }
  }
  waiting.push_front(std::move(q));
  std::lock_guard<std::mutex> lock(mu);
  ++n_waiting;
}

// Builds the next step into `inputs`; false when nothing can run.
bool Scheduler::Impl::build_step() {
  const EngineOptions& o = opts.engine;
  for (;;) {
    inputs.clear();
    owners.clear();
    owner_reqs.clear();
    chunk_begin.clear();
    int tokens_left = o.max_batch_tokens, rows_left = o.max_logits_rows;
    int free = engine->kv_stats().free_blocks;
    bool starved = false;  // a decoding sequence found no free block
    for (auto& q : running)
      for (auto& c : q->choices) {
        if (c->done || c->seq < 0 || c->next_token < 0 || tokens_left == 0 || rows_left == 0) continue;
        const int need = engine->blocks_needed(c->seq, engine->sequence_length(c->seq) + 1);
        if (need > free) {
          starved = true;
          continue;
        }
        free -= need;
        inputs.push_back({c->seq, &c->next_token, 1, StepOutput::kLastLogits});
        owners.push_back(c.get());
        owner_reqs.push_back(q.get());
        chunk_begin.push_back(-1);
        --tokens_left, --rows_left;
      }
    // Prompt chunks take what is left, keeping a block for every decoding sequence's next step.
    free = std::max(0, free - static_cast<int>(inputs.size()));
    if (!starved)
      for (auto& q : running)
        for (auto& c : q->choices) {
          const int size = static_cast<int>(c->feed.size());
          if (c->done || c->seq < 0 || c->fed >= size || tokens_left == 0) continue;
          // Prefilling sequences own no shared partial block: the free blocks hold `room` tokens.
          const int len = engine->sequence_length(c->seq);
          const int room = (blocks_for(len, o.kv_block_size) + free) * o.kv_block_size - len;
          const bool rows = q->prompt_phase && q->r.callbacks.on_prompt_rows;
          const PromptChunk ch =
              next_prompt_chunk(c->fed, size, rows ? q->r.rows_from : INT_MAX, rows && q->r.hidden, std::min(tokens_left, room), rows_left);
          if (ch.end == c->fed) continue;
          free -= engine->blocks_needed(c->seq, len + ch.end - c->fed);
          inputs.push_back({c->seq, c->feed.data() + c->fed, ch.end - c->fed, ch.output});
          owners.push_back(c.get());
          owner_reqs.push_back(q.get());
          chunk_begin.push_back(c->fed);
          tokens_left -= ch.end - c->fed;
          rows_left -= ch.logits_rows;
        }
    if (!starved && !inputs.empty()) return true;
    if (running.empty()) return false;
    // Requests are running but nothing fits: only KV blocks can be short. Preempt the youngest.
    if (running.size() == 1) {
      const Error e(ErrorCode::kResourceExhausted, "the KV cache cannot hold this request (" +
                                                       std::to_string(engine->kv_stats().total_blocks) + " blocks of " +
                                                       std::to_string(o.kv_block_size) + " tokens)");
      end_running(0, &e);
      return false;
    }
    std::unique_ptr<Req> youngest = std::move(running.back());
    running.pop_back();
    preempt(std::move(youngest));
  }
}

void Scheduler::Impl::sample(Req& q, Choice& c, const float* logits) {
  const int token = c.decode->step(logits);
  ++st.generation_tokens;
  const GenerateResult& r = c.decode->result();
  const bool last = c.decode->finished();
  if (last) c.decode->finish();  // flushes held-back text into `pending`
  if (q.r.callbacks.on_token) {
    TokenEvent e;
    e.choice = c.index;
    e.token = token;
    e.logprob = r.logprobs.back();
    e.top = r.top_logprobs.empty() ? nullptr : &r.top_logprobs.back();
    e.text = std::move(c.pending);
    e.last = last;
    q.r.callbacks.on_token(e);
  }
  c.pending.clear();
  if (!last) {
    c.next_token = token;
    return;
  }
  c.done = true;
  if (c.seq >= 0) engine->remove_sequence(c.seq);  // its blocks are free for the others at once
  c.seq = -1;
  if (q.r.callbacks.on_choice_done) q.r.callbacks.on_choice_done(c.index, std::move(c.decode->result()));
}

// Choice 0 has prefilled the prompt: the other choices fork its sequence (sharing its blocks),
// then every choice samples its first token from the prompt's last logits with its own seed.
void Scheduler::Impl::finish_prompt(Req& q, const float* logits) {
  q.prompt_phase = false;
  Choice& first = *q.choices[0];
  if (!q.decodes()) {  // max_new_tokens 0: every choice ends with the prompt ("length")
    for (auto& c : q.choices) {
      c->done = true;
      if (q.r.callbacks.on_choice_done) q.r.callbacks.on_choice_done(c->index, std::move(c->decode->finish()));
    }
    return;
  }
  for (size_t i = 1; i < q.choices.size(); ++i) {
    Choice& c = *q.choices[i];
    c.seq = engine->fork_sequence(first.seq).value();
    c.fed = static_cast<int>(c.feed.size());
  }
  for (auto& c : q.choices) sample(q, *c, logits);
}

void Scheduler::Impl::process_step() {
  const int vocab = engine->model().config().vocab_size, hidden = engine->model().config().hidden_size;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Choice& c = *owners[i];
    Req& q = *owner_reqs[i];
    const float* rows = engine->output(static_cast<int>(i));
    const int n_rows = engine->output_rows(static_cast<int>(i));
    const bool hidden_rows = inputs[i].output == StepOutput::kAllHidden || inputs[i].output == StepOutput::kLastHidden;
    const float* last = rows ? rows + static_cast<int64_t>(n_rows - 1) * (hidden_rows ? hidden : vocab) : nullptr;
    if (chunk_begin[i] < 0) {
      sample(q, c, last);
      continue;
    }
    const int a = chunk_begin[i], n = inputs[i].n_tokens;
    c.fed = a + n;
    if (rows && q.prompt_phase && q.r.callbacks.on_prompt_rows) {
      q.r.callbacks.on_prompt_rows(a + n - n_rows, rows, n_rows);
      q.rows_delivered = true;
    }
    if (c.fed < static_cast<int>(c.feed.size())) continue;
    if (q.prompt_phase)
      finish_prompt(q, last);
    else
      sample(q, c, last);  // a preempted choice has caught up
  }
  // Requests whose choices are all done leave now.
  for (size_t i = running.size(); i-- > 0;)
    if (running[i]->unfinished() == 0) end_running(i, nullptr);
}

void Scheduler::Impl::loop() {
  while (take_incoming()) {
    admit();
    if (build_step()) {
      ++st.steps;
      auto r = engine->step(inputs);
      if (!r) {
        // A step that fails changes nothing: fail the requests it held, keep serving the rest.
        std::vector<RequestId> ids;
        for (Req* q : owner_reqs)
          if (std::find(ids.begin(), ids.end(), q->id) == ids.end()) ids.push_back(q->id);
        for (RequestId id : ids)
          for (size_t i = 0; i < running.size(); ++i)
            if (running[i]->id == id) {
              end_running(i, &r.error());
              break;
            }
      } else {
        process_step();
      }
    }
    publish();
  }
  // Stopping: everything still here is cancelled.
  const Error stopped(ErrorCode::kCancelled, "the server is shutting down");
  while (!running.empty()) end_running(running.size() - 1, &stopped);
  std::deque<std::unique_ptr<Req>> rest;
  {
    std::lock_guard<std::mutex> lock(mu);
    rest.swap(incoming);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    n_waiting = 0;
  }
  for (auto& q : waiting) end(*q, &stopped);
  for (auto& q : rest) end(*q, &stopped);
  waiting.clear();
  publish();
}

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<Scheduler>> Scheduler::create(std::shared_ptr<const Model> model, const SchedulerOptions& opts) {
  return capture_errors([&] {
    if (opts.max_waiting < 0) throw Error(ErrorCode::kInvalidArgument, "max_waiting must be >= 0");
    auto impl = std::make_unique<Impl>();
    impl->engine = Engine::create(std::move(model), opts.engine).value();
    impl->opts = opts;
    impl->opts.engine = impl->engine->options();
    const size_t T = static_cast<size_t>(impl->opts.engine.max_batch_tokens);
    impl->inputs.reserve(T);
    impl->owners.reserve(T);
    impl->owner_reqs.reserve(T);
    impl->chunk_begin.reserve(T);
    impl->publish();
    Impl* raw = impl.get();
    impl->thread = std::thread([raw] { raw->loop(); });
    return std::unique_ptr<Scheduler>(new Scheduler(std::move(impl)));
  });
}

Result<RequestId> Scheduler::submit(SchedulerRequest request) {
  return capture_errors([&] {
    Impl& s = *impl_;
    const EngineOptions& o = s.opts.engine;
    const SchedulerRequest& r = request;
    validate_generate_params(r.params);
    if (r.prompt.empty()) throw Error(ErrorCode::kInvalidArgument, "the prompt is empty (no tokens)");
    const int vocab = s.engine->model().config().vocab_size;
    check_token_ids(r.prompt.data(), r.prompt.size(), vocab);
    if (r.n < 1 || r.n > max_choices())
      throw Error(ErrorCode::kInvalidArgument, "n must be in 1.." + std::to_string(max_choices()) + ", got " + std::to_string(r.n));
    if (!r.seeds.empty() && static_cast<int>(r.seeds.size()) != r.n)
      throw Error(ErrorCode::kInvalidArgument,
                  "seeds: " + std::to_string(r.seeds.size()) + " given for " + std::to_string(r.n) + " choices");
    check_fits_context(static_cast<int64_t>(r.prompt.size()), r.params.max_new_tokens, o.context_length, "max_tokens");
    const int64_t total = static_cast<int64_t>(r.prompt.size()) + r.params.max_new_tokens;
    // Alone, the request must fit in the pool: the prompt once, then per choice its new tokens
    // and a copy of the shared partial block.
    const int b = o.kv_block_size;
    const int64_t blocks =
        r.n == 1 ? blocks_for(total, b)
                 : blocks_for(static_cast<int64_t>(r.prompt.size()), b) + int64_t{r.n} * (blocks_for(r.params.max_new_tokens, b) + 1);
    const int pool = s.engine->kv_stats().total_blocks;
    if (blocks > pool)
      throw Error(ErrorCode::kInvalidArgument, "this request needs up to " + std::to_string(blocks) + " KV blocks of " + std::to_string(b) +
                                                   " tokens; the pool has " + std::to_string(pool));

    auto q = std::make_unique<Req>();
    q->r = std::move(request);
    const Model& model = s.engine->model();
    for (int i = 0; i < q->r.n; ++i) {
      auto c = std::make_unique<Choice>();
      c->index = i;
      c->seed = !q->r.seeds.empty() ? q->r.seeds[static_cast<size_t>(i)]
                : q->r.n == 1       ? q->r.params.sampling.seed
                                    : sequence_seed(q->r.params.sampling.seed, i);
      c->params = q->r.params;
      Choice* raw = c.get();
      c->params.on_text = [raw](const std::string& piece) { raw->pending += piece; };
      c->decode = std::make_unique<DecodeState>(model, c->params, c->seed, q->r.prompt);
      c->feed = q->r.prompt;
      q->choices.push_back(std::move(c));
    }
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) throw Error(ErrorCode::kCancelled, "the scheduler is stopping");
    if (s.n_waiting >= s.opts.max_waiting)
      throw Error(ErrorCode::kResourceExhausted, "the queue is full (" + std::to_string(s.opts.max_waiting) + " requests waiting)");
    q->id = s.next_id++;
    ++s.n_waiting;
    ++s.n_active;
    const RequestId id = q->id;
    s.incoming.push_back(std::move(q));
    s.wake.notify_one();
    return id;
  });
}

void Scheduler::cancel(RequestId id) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->cancels.push_back(id);
  }
  impl_->wake.notify_one();
}

void Scheduler::cancel_all() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->cancel_everything = true;
  }
  impl_->wake.notify_one();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  SchedulerStats s = impl_->shared;
  s.waiting = impl_->n_waiting;
  return s;
}

bool Scheduler::idle() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->n_active == 0;
}

const Model& Scheduler::model() const { return impl_->engine->model(); }
const EngineOptions& Scheduler::engine_options() const { return impl_->opts.engine; }
int Scheduler::max_choices() const {
  const EngineOptions& o = impl_->opts.engine;
  return std::min({o.max_sequences, o.max_logits_rows, o.max_batch_tokens});
}

}  // namespace wick
