#include "wick/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include "runtime/batch_runner.h"
#include "runtime/decode_state.h"
#include "runtime/row_sinks.h"
#include "core/limits.h"

namespace wick {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<int> encode_text(const Model& model, const std::string& text, bool add_special) {
  auto ids = model.tokenizer().encode(text, {add_special, true});
  if (!ids) throw ids.error();
  return std::move(ids.value());
}

// A prompt that fits: non-empty, and prompt + max_new_tokens within the context.
void check_prompt(const Engine& engine, const std::vector<int>& prompt, int max_new_tokens) {
  if (prompt.empty()) throw Error(ErrorCode::kInvalidArgument, "the prompt is empty (no tokens)");
  check_fits_context(static_cast<int64_t>(prompt.size()), max_new_tokens, engine.options().context_length);
}

int blocks_for(const Engine& engine, int64_t tokens) {
  const int b = engine.options().kv_block_size;
  return static_cast<int>((tokens + b - 1) / b);
}

void check_kv_room(const Engine& engine, int blocks, const std::string& what) {
  const KvCacheStats kv = engine.kv_stats();
  if (blocks > kv.free_blocks)
    throw Error(ErrorCode::kInvalidArgument, what + " needs up to " + std::to_string(blocks) + " KV blocks of " +
                                                 std::to_string(kv.block_size) + " tokens, " + std::to_string(kv.free_blocks) +
                                                 " are free (raise kv_cache_tokens)");
}

}  // namespace

void rank_candidates(std::vector<GenerateResult> all, CandidatesResult& out) {
  const int n = static_cast<int>(all.size());
  for (auto& r : all) {
    r.prompt_tokens.clear();
    r.prompt_logprobs.clear();
    out.generated_tokens += static_cast<int>(r.tokens.size());
  }
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return all[static_cast<size_t>(a)].logprob > all[static_cast<size_t>(b)].logprob; });
  std::unordered_map<std::string, int> seen;
  for (int i : order) {
    GenerateResult& r = all[static_cast<size_t>(i)];
    if (!seen.emplace(r.text, i).second) {
      ++out.duplicates_removed;
      continue;
    }
    out.candidates.push_back(std::move(r));
    out.indices.push_back(i);
  }
}

Result<std::pair<std::vector<int>, std::vector<int>>> split_for_scoring(const Tokenizer& tok, const std::string& prompt,
                                                                        const std::string& continuation, bool add_special) {
  return capture_errors([&] {
    if (continuation.empty()) throw Error(ErrorCode::kInvalidArgument, "score: the continuation is empty");
    auto enc = [&](const std::string& t, bool special) {
      auto ids = tok.encode(t, {special, true});
      if (!ids) throw ids.error();
      return std::move(ids.value());
    };
    const std::vector<int> alone = enc(prompt, add_special);
    std::vector<int> whole = enc(prompt + continuation, add_special);
    size_t common = 0;
    while (common < alone.size() && common < whole.size() && alone[common] == whole[common]) ++common;
    std::vector<int> p, c;
    if (common > 0 && common < whole.size()) {
      p.assign(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(common));
      c.assign(whole.begin() + static_cast<std::ptrdiff_t>(common), whole.end());
    } else {
      p = alone;
      c = enc(continuation, false);
    }
    return std::make_pair(std::move(p), std::move(c));
  });
}

Generator::Generator(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
Generator::~Generator() = default;

Result<std::unique_ptr<Generator>> Generator::create(std::shared_ptr<const Model> model, const EngineOptions& opts) {
  auto engine = Engine::create(std::move(model), opts);
  if (!engine) return engine.error();
  return std::unique_ptr<Generator>(new Generator(std::move(engine.value())));
}

Engine& Generator::engine() { return *engine_; }
const Model& Generator::model() const { return engine_->model(); }
int Generator::max_candidates() const {
  const EngineOptions& o = engine_->options();
  return std::min({o.max_sequences, o.max_logits_rows, o.max_batch_tokens});
}

Result<GenerateResult> Generator::generate(const std::string& prompt, const GenerateParams& params) {
  return capture_errors([&] {
    auto r = generate_from_tokens(encode_text(model(), prompt, params.add_special_tokens), params);
    if (!r) throw r.error();
    return std::move(r.value());
  });
}

namespace {

// Generates a continuation of each prompt, all sequences in one batch (BatchRunner), seeds[i]
// for prompt i. Every generate entry point is this: a single prompt is a batch of one.
std::vector<GenerateResult> run_batch(Engine& engine, const std::vector<std::vector<int>>& ids, const GenerateParams& params,
                                      const std::vector<uint64_t>& seeds, const char* what) {
  const Model& model = engine.model();
  int blocks = 0;
  for (const auto& p : ids) {
    check_prompt(engine, p, params.max_new_tokens);
    blocks += blocks_for(engine, static_cast<int64_t>(p.size()) + params.max_new_tokens);
  }
  check_kv_room(engine, blocks, what);
  const auto t0 = Clock::now();
  const size_t n = ids.size();
  std::vector<std::unique_ptr<DecodeState>> states;
  std::vector<SeqTask> tasks(n);
  std::vector<SeqTask*> ptrs;
  std::vector<std::vector<float>> prompt_lp(n);
  SequenceGuard guard(engine);
  for (size_t i = 0; i < n; ++i) {
    states.push_back(std::make_unique<DecodeState>(model, params, seeds[i], ids[i]));
    tasks[i].seq = guard.add(engine.add_sequence().value());
    tasks[i].prompt = ids[i];
    tasks[i].decode = states[i].get();
    if (params.prompt_logprobs) {
      tasks[i].rows_from = 0;
      tasks[i].on_prompt_rows = prompt_logprob_sink(ids[i], model.config().vocab_size, prompt_lp[i]);
    }
    ptrs.push_back(&tasks[i]);
  }
  BatchRunner(engine).run(ptrs);
  const double total = seconds_since(t0);
  std::vector<GenerateResult> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(std::move(states[i]->finish()));
    out.back().prompt_logprobs = std::move(prompt_lp[i]);
    out.back().prefill_seconds = tasks[i].prefill_seconds;
    out.back().decode_seconds = total - tasks[i].prefill_seconds;
  }
  return out;
}

}  // namespace

Result<GenerateResult> Generator::generate_from_tokens(const std::vector<int>& prompt, const GenerateParams& params) {
  return capture_errors([&] {
    validate_generate_params(params);
    // Alone, a sequence samples from the request's seed itself (and may stream its text).
    return std::move(run_batch(*engine_, {prompt}, params, {params.sampling.seed}, "this request")[0]);
  });
}

Result<std::vector<GenerateResult>> Generator::generate_batch(const std::vector<std::string>& prompts, const GenerateParams& params) {
  return capture_errors([&] {
    validate_generate_params(params);
    if (prompts.empty()) throw Error(ErrorCode::kInvalidArgument, "generate_batch: no prompts");
    if (static_cast<int>(prompts.size()) > engine_->options().max_sequences)
      throw Error(ErrorCode::kInvalidArgument, "generate_batch: " + std::to_string(prompts.size()) + " prompts, at most max_sequences (" +
                                                   std::to_string(engine_->options().max_sequences) + ")");
    GenerateParams quiet = params;  // several sequences' text cannot share one stream
    quiet.on_text = nullptr;
    std::vector<std::vector<int>> ids;
    std::vector<uint64_t> seeds;
    for (const auto& p : prompts) {
      ids.push_back(encode_text(model(), p, params.add_special_tokens));
      seeds.push_back(sequence_seed(params.sampling.seed, static_cast<int>(seeds.size())));
    }
    return run_batch(*engine_, ids, quiet, seeds, "this batch");
  });
}

Result<CandidatesResult> Generator::generate_candidates(const std::string& prompt, int n, const GenerateParams& params) {
  return capture_errors([&] {
    auto r = generate_candidates_from_tokens(encode_text(model(), prompt, params.add_special_tokens), n, params);
    if (!r) throw r.error();
    return std::move(r.value());
  });
}

Result<CandidatesResult> Generator::generate_candidates_from_tokens(const std::vector<int>& prompt, int n, const GenerateParams& params) {
  return capture_errors([&] {
    validate_generate_params(params);
    if (n < 1 || n > max_candidates())
      throw Error(ErrorCode::kInvalidArgument,
                  "number of candidates must be in 1.." + std::to_string(max_candidates()) + ", got " + std::to_string(n));
    check_prompt(*engine_, prompt, params.max_new_tokens);
    // The prompt's blocks once, then per sequence its new tokens and a copied partial block.
    check_kv_room(*engine_,
                  blocks_for(*engine_, static_cast<int64_t>(prompt.size())) + n * (blocks_for(*engine_, params.max_new_tokens) + 1),
                  "these candidates");
    GenerateParams quiet = params;
    quiet.on_text = nullptr;
    const int vocab = model().config().vocab_size;
    const auto t0 = Clock::now();
    CandidatesResult out;
    out.prompt_tokens = prompt;
    out.requested = n;

    // 1. Prefill the prompt once and keep the logits of its last position.
    SequenceGuard guard(*engine_);
    SeqTask parent;
    parent.seq = guard.add(engine_->add_sequence().value());
    parent.prompt = prompt;
    parent.keep_sequence = true;
    std::vector<float> first_logits(static_cast<size_t>(vocab)), prompt_lp;
    auto keep_last = [&](int pos, const float* rows, int count) {
      if (pos + count == static_cast<int>(prompt.size()))
        std::copy(rows + static_cast<int64_t>(count - 1) * vocab, rows + static_cast<int64_t>(count) * vocab, first_logits.begin());
    };
    if (params.prompt_logprobs) {
      parent.rows_from = 0;
      auto sink = prompt_logprob_sink(prompt, vocab, prompt_lp);
      parent.on_prompt_rows = [&, sink](int pos, const float* rows, int count) {
        sink(pos, rows, count);
        keep_last(pos, rows, count);
      };
    } else {
      parent.on_prompt_rows = keep_last;
    }
    {
      SeqTask* p[] = {&parent};
      BatchRunner(*engine_).run(p);
    }
    out.prefill_seconds = seconds_since(t0);

    // 2. n sequences sharing the prompt's blocks (sequence 0 is the prompt's own), each with its
    // own seed, sample their first token from the prompt's logits and decode together.
    std::vector<std::unique_ptr<DecodeState>> states;
    std::vector<SeqTask> tasks(static_cast<size_t>(n));
    std::vector<SeqTask*> running;
    for (int i = 0; i < n; ++i)  // all forks first: a sequence that ends at once is removed below
      tasks[static_cast<size_t>(i)].seq = i == 0 ? parent.seq : guard.add(engine_->fork_sequence(parent.seq).value());
    for (int i = 0; i < n; ++i) {
      states.push_back(std::make_unique<DecodeState>(model(), quiet, sequence_seed(params.sampling.seed, i), prompt));
      SeqTask& t = tasks[static_cast<size_t>(i)];
      t.decode = states.back().get();
      if (!t.decode->finished()) t.next_token = t.decode->step(first_logits.data());
      if (t.decode->finished()) {
        t.done = true;
        engine_->remove_sequence(t.seq);
      } else {
        running.push_back(&t);
      }
    }
    BatchRunner(*engine_).run(running);
    out.decode_seconds = seconds_since(t0) - out.prefill_seconds;

    // 3. Deduplicate by text (keeping the most likely), then sort best first.
    std::vector<GenerateResult> all;
    for (auto& st : states) all.push_back(std::move(st->finish()));
    rank_candidates(std::move(all), out);
    if (!out.candidates.empty() && params.prompt_logprobs) out.candidates.front().prompt_logprobs = prompt_lp;
    return out;
  });
}

Result<ScoreResult> Generator::score(const std::string& prompt, const std::string& continuation, bool add_special_tokens) {
  return capture_errors([&] {
    auto split = split_for_scoring(model().tokenizer(), prompt, continuation, add_special_tokens);
    if (!split) throw split.error();
    auto r = score_tokens(split->first, split->second);
    if (!r) throw r.error();
    return std::move(r.value());
  });
}

Result<ScoreResult> Generator::score_tokens(const std::vector<int>& prompt, const std::vector<int>& continuation) {
  return capture_errors([&] {
    if (continuation.empty()) throw Error(ErrorCode::kInvalidArgument, "score: the continuation has no tokens");
    check_prompt(*engine_, prompt, static_cast<int>(std::min<size_t>(continuation.size(), 1u << 30)));
    check_kv_room(*engine_, blocks_for(*engine_, static_cast<int64_t>(prompt.size() + continuation.size())), "this score");
    ScoreResult out;
    out.prompt_tokens = prompt;
    out.tokens = continuation;
    ScoreSink sink(out, model().config().vocab_size);
    std::vector<int> all = prompt;
    all.insert(all.end(), continuation.begin(), continuation.end());
    SequenceGuard guard(*engine_);
    SeqTask task;
    task.seq = guard.add(engine_->add_sequence().value());
    task.prompt = all;
    task.rows_from = sink.first_position();
    task.on_prompt_rows = [&sink](int pos, const float* rows, int n) { sink(pos, rows, n); };
    SeqTask* t[] = {&task};
    BatchRunner(*engine_).run(t);
    sink.finish();
    return out;
  });
}

}  // namespace wick
