#include "wick/embedder.h"

#include <chrono>
#include <cmath>

#include "runtime/batch_runner.h"
#include "runtime/row_sinks.h"
#include "core/limits.h"

namespace wick {

Result<Pooling> parse_pooling(const std::string& name) {
  if (name == "mean") return Pooling::kMean;
  if (name == "last") return Pooling::kLast;
  return Error(ErrorCode::kInvalidArgument, "unknown pooling '" + name + "' (known: mean, last)");
}

Embedder::Embedder(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}
Embedder::~Embedder() = default;

Result<std::unique_ptr<Embedder>> Embedder::create(std::shared_ptr<const Model> model, const EngineOptions& opts) {
  EngineOptions o = opts;
  o.max_logits_rows = 1;  // hidden states only: no logits buffer worth the name
  auto engine = Engine::create(std::move(model), o);
  if (!engine) return engine.error();
  return std::unique_ptr<Embedder>(new Embedder(std::move(engine.value())));
}

Engine& Embedder::engine() { return *engine_; }

Result<Embeddings> Embedder::encode(const std::vector<std::string>& texts, const EncodeParams& params) {
  return capture_errors([&] {
    std::vector<std::vector<int>> ids;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto r = engine_->model().tokenizer().encode(texts[i], {params.add_special_tokens, true});
      if (!r) throw Error(r.error().code(), "text " + std::to_string(i) + ": " + r.error().what());
      ids.push_back(std::move(r.value()));
    }
    auto e = encode_tokens(ids, params);
    if (!e) throw e.error();
    return std::move(e.value());
  });
}

Result<Embeddings> Embedder::encode_tokens(const std::vector<std::vector<int>>& lists, const EncodeParams& params) {
  return capture_errors([&] {
    const auto t0 = std::chrono::steady_clock::now();
    const EngineOptions& o = engine_->options();
    const int H = engine_->model().config().hidden_size;
    if (lists.empty()) throw Error(ErrorCode::kInvalidArgument, "encode: no texts");
    const int block = o.kv_block_size;
    const int total_blocks = engine_->kv_stats().total_blocks;
    for (size_t i = 0; i < lists.size(); ++i) {
      const auto& l = lists[i];
      if (l.empty()) throw Error(ErrorCode::kInvalidArgument, "encode: text " + std::to_string(i) + " has no tokens");
      check_length_fits_context(static_cast<int64_t>(l.size()), o.context_length, "encode: text", static_cast<int64_t>(i));
      if ((static_cast<int>(l.size()) + block - 1) / block > total_blocks)
        throw Error(ErrorCode::kInvalidArgument, "encode: text " + std::to_string(i) + " does not fit in the KV cache");
    }
    Embeddings out;
    out.dim = H;
    const size_t n = lists.size();
    std::vector<PoolingSink> sinks;
    for (const auto& l : lists) sinks.emplace_back(H, static_cast<int>(l.size()), params.pooling);
    // Waves of texts that fit in the free KV blocks and sequence slots together; within a wave
    // the runner packs their tokens into full forward passes.
    size_t next = 0;
    while (next < n) {
      SequenceGuard guard(*engine_);
      std::vector<SeqTask> tasks;
      tasks.reserve(n - next);
      int free_blocks = engine_->kv_stats().free_blocks;
      while (next < n && static_cast<int>(tasks.size()) < o.max_sequences) {
        const std::vector<int>& l = lists[next];
        const int need = (static_cast<int>(l.size()) + block - 1) / block;
        if (need > free_blocks) break;
        free_blocks -= need;
        SeqTask t;
        t.seq = guard.add(engine_->add_sequence().value());
        t.prompt = l;
        t.hidden = true;
        t.rows_from = params.pooling == Pooling::kMean ? 0 : INT_MAX;
        PoolingSink* sink = &sinks[next];
        t.on_prompt_rows = [sink](int pos, const float* rows, int rn) { (*sink)(pos, rows, rn); };
        tasks.push_back(std::move(t));
        ++next;
      }
      std::vector<SeqTask*> ptrs;
      for (auto& t : tasks) ptrs.push_back(&t);
      BatchRunner(*engine_).run(ptrs);
    }
    for (size_t i = 0; i < n; ++i) {
      out.vectors.push_back(sinks[i].finish(params.normalize, "text " + std::to_string(i)));
      out.token_counts.push_back(static_cast<int>(lists[i].size()));
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  });
}

}  // namespace wick
