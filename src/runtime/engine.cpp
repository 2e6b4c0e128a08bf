#include "wick/engine.h"

#include <algorithm>

#include "backends/backend.h"
#include "backends/devices.h"
#include "models/model.h"
#include "models/transformer.h"
#include "runtime/kv_cache.h"
#include "runtime/model_internals.h"
#include "core/limits.h"

namespace wick {

struct Engine::Impl {
  std::shared_ptr<const Model> model;
  EngineOptions opts;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<KvCache> kv;
  KvCacheBuffers kv_buffers;
  ActivationCallback hook;

  std::vector<SequenceBlocks> seqs;  // [max_sequences]
  std::vector<char> alive;           // [max_sequences]
  std::vector<SequenceId> free_ids;  // a stack

  // Per-step arrays, sized once: [max_batch_tokens] or [max_sequences].
  std::vector<int32_t> tokens, positions, seq_lens, out_rows;
  std::vector<const int32_t*> tables;
  std::vector<int64_t> kv_slots;
  std::vector<int32_t> first_token, first_out_row, out_count, step_mark;  // per input / per sequence
  std::vector<char> out_hidden;
  int last_step_inputs = 0;
  int step_counter = 0;

  SequenceBlocks& checked(SequenceId id) {
    if (id < 0 || id >= static_cast<SequenceId>(seqs.size()) || !alive[static_cast<size_t>(id)])
      throw Error(ErrorCode::kInvalidArgument, "unknown sequence id " + std::to_string(id));
    return seqs[static_cast<size_t>(id)];
  }
  SequenceId take_id() {
    if (free_ids.empty())
      throw Error(ErrorCode::kInvalidArgument, "too many sequences: at most " + std::to_string(opts.max_sequences) + " alive at once");
    const SequenceId id = free_ids.back();
    free_ids.pop_back();
    alive[static_cast<size_t>(id)] = 1;
    return id;
  }
  void run(std::span<const StepInput> inputs);
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(std::shared_ptr<const Model> model, const EngineOptions& o) {
  return capture_errors([&] {
    if (!model) throw Error(ErrorCode::kInvalidArgument, "engine: no model");
    const ModelConfig& cfg = model->config();
    EngineOptions opts = o;
    const int model_max = cfg.max_context();
    if (opts.context_length == 0) opts.context_length = default_context_length(model_max);
    if (opts.context_length < 0 || opts.context_length > model_max)
      throw Error(ErrorCode::kInvalidArgument,
                  "context length " + std::to_string(opts.context_length) + " exceeds the model's maximum of " + std::to_string(model_max));
    auto positive = [](int v, const char* what) {
      if (v <= 0) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must be positive, got " + std::to_string(v));
    };
    positive(opts.max_batch_tokens, "max_batch_tokens");
    positive(opts.max_logits_rows, "max_logits_rows");
    positive(opts.max_sequences, "max_sequences");
    positive(opts.kv_block_size, "kv_block_size");
    if (opts.n_threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads must be >= 0");
    if (opts.kv_cache_tokens < 0) throw Error(ErrorCode::kInvalidArgument, "kv_cache_tokens must be >= 0");
    if (opts.kv_cache_tokens == 0) opts.kv_cache_tokens = std::max(opts.context_length, 4096);
    opts.max_logits_rows = std::min(opts.max_logits_rows, opts.max_batch_tokens);
    // Dynamic-NTK and longrope choose rope frequencies from the sequence length at the time a
    // key is computed (transformers' dynamic_rope_update), so a cached prefix computed inside
    // another, longer sequence could hold different keys: no prefix caching for them.
    if (cfg.rope.type == RopeType::kDynamic || cfg.rope.type == RopeType::kLongRope) opts.prefix_cache = false;

    auto impl = std::make_unique<Impl>();
    impl->model = model;
    impl->backend = make_backend(opts.device, opts.n_threads);
    impl->backend->set_decodes(opts.decodes);
    impl->transformer = std::make_unique<Transformer>(loaded_model(*model), *impl->backend, opts.max_batch_tokens, opts.max_logits_rows,
                                                      opts.context_length, opts.kv_block_size);
    const int n_blocks = (opts.kv_cache_tokens + opts.kv_block_size - 1) / opts.kv_block_size;
    if (opts.kv_dtype != "f32" && opts.kv_dtype != "f16")
      throw Error(ErrorCode::kInvalidArgument, "kv_dtype must be \"f32\" or \"f16\", got \"" + opts.kv_dtype + "\"");
    const DType kv_dtype = opts.kv_dtype == "f16" ? DType::F16 : DType::F32;
    impl->kv =
        std::make_unique<KvCache>(*impl->backend, cfg.num_layers, cfg.kv_dim(), opts.kv_block_size, n_blocks, kv_dtype, opts.prefix_cache);
    impl->kv_buffers.block_size = opts.kv_block_size;
    impl->kv_buffers.dtype = kv_dtype;
    for (int l = 0; l < cfg.num_layers; ++l) {
      impl->kv_buffers.k.push_back(impl->kv->k(l));
      impl->kv_buffers.v.push_back(impl->kv->v(l));
    }
    const size_t S = static_cast<size_t>(opts.max_sequences), T = static_cast<size_t>(opts.max_batch_tokens);
    impl->seqs.resize(S);
    const size_t max_blocks = static_cast<size_t>(opts.context_length / opts.kv_block_size + 2);
    for (auto& s : impl->seqs) {
      s.table.reserve(max_blocks);
      impl->kv->reserve_history(s, opts.context_length);
    }
    impl->alive.assign(S, 0);
    for (size_t i = S; i-- > 0;) impl->free_ids.push_back(static_cast<SequenceId>(i));
    impl->tokens.resize(T);
    impl->positions.resize(T);
    impl->seq_lens.resize(T);
    impl->tables.resize(T);
    impl->kv_slots.resize(T);
    impl->out_rows.resize(T);
    impl->first_token.resize(T);  // per input; an input has at least one token
    impl->first_out_row.resize(T);
    impl->out_count.resize(T);
    impl->out_hidden.resize(T);
    impl->step_mark.assign(S, -1);
    impl->opts = opts;
    return std::unique_ptr<Engine>(new Engine(std::move(impl)));
  });
}

Result<SequenceId> Engine::add_sequence() {
  return capture_errors([&] { return impl_->take_id(); });
}

Result<SequenceId> Engine::fork_sequence(SequenceId parent) {
  return capture_errors([&] {
    SequenceBlocks& p = impl_->checked(parent);
    const SequenceId id = impl_->take_id();
    impl_->kv->fork(p, impl_->seqs[static_cast<size_t>(id)]);
    return id;
  });
}

void Engine::remove_sequence(SequenceId seq) {
  if (seq < 0 || seq >= static_cast<SequenceId>(impl_->seqs.size()) || !impl_->alive[static_cast<size_t>(seq)]) return;
  impl_->kv->release(impl_->seqs[static_cast<size_t>(seq)]);
  impl_->alive[static_cast<size_t>(seq)] = 0;
  impl_->free_ids.push_back(seq);
}

void Engine::clear_sequence(SequenceId seq) {
  if (seq < 0 || seq >= static_cast<SequenceId>(impl_->seqs.size()) || !impl_->alive[static_cast<size_t>(seq)]) return;
  impl_->kv->release(impl_->seqs[static_cast<size_t>(seq)]);
}

Result<int> Engine::truncate_sequence(SequenceId seq, int length) {
  return capture_errors([&] {
    impl_->kv->truncate(impl_->checked(seq), length);
    return length;
  });
}

int Engine::sequence_length(SequenceId seq) const { return impl_->checked(seq).length; }

int Engine::cached_prefix_tokens(std::span<const int> tokens, int max_tokens) const {
  return impl_->kv->cached_prefix(tokens.data(), static_cast<int>(tokens.size()), std::min(max_tokens, impl_->opts.context_length));
}

int Engine::blocks_needed(SequenceId seq, int new_length) const { return impl_->kv->blocks_needed(impl_->checked(seq), new_length); }

Result<int> Engine::reuse_prefix(SequenceId seq, std::span<const int> tokens, int max_tokens) {
  return capture_errors([&] {
    SequenceBlocks& s = impl_->checked(seq);
    if (s.length != 0) throw Error(ErrorCode::kInvalidArgument, "reuse_prefix: sequence " + std::to_string(seq) + " is not empty");
    return impl_->kv->attach_prefix(s, tokens.data(), static_cast<int>(tokens.size()), std::min(max_tokens, impl_->opts.context_length));
  });
}
int Engine::live_sequences() const { return impl_->opts.max_sequences - static_cast<int>(impl_->free_ids.size()); }

void Engine::Impl::run(std::span<const StepInput> inputs) {
  const int n_inputs = static_cast<int>(inputs.size());
  if (n_inputs == 0) throw Error(ErrorCode::kInvalidArgument, "step: no inputs");
  ++step_counter;
  // Validate everything first: a failed step must leave every sequence unchanged.
  int n_tokens = 0, n_logits_rows = 0, blocks = 0;
  const int vocab = model->config().vocab_size;
  for (int i = 0; i < n_inputs; ++i) {
    const StepInput& in = inputs[static_cast<size_t>(i)];
    SequenceBlocks& s = checked(in.seq);
    if (step_mark[static_cast<size_t>(in.seq)] == step_counter)
      throw Error(ErrorCode::kInvalidArgument, "step: sequence " + std::to_string(in.seq) + " appears twice");
    step_mark[static_cast<size_t>(in.seq)] = step_counter;
    if (in.n_tokens <= 0 || !in.tokens) throw Error(ErrorCode::kInvalidArgument, "step: an input has no tokens");
    check_length_fits_context(s.length + in.n_tokens, opts.context_length, "sequence", in.seq);
    check_token_ids(in.tokens, static_cast<size_t>(in.n_tokens), vocab);
    n_tokens += in.n_tokens;
    if (n_tokens > opts.max_batch_tokens)
      throw Error(ErrorCode::kInvalidArgument, "step: more than max_batch_tokens (" + std::to_string(opts.max_batch_tokens) + ") tokens");
    n_logits_rows += in.output == StepOutput::kAllLogits ? in.n_tokens : in.output == StepOutput::kLastLogits ? 1 : 0;
    if (n_logits_rows > opts.max_logits_rows)
      throw Error(ErrorCode::kInvalidArgument,
                  "step: more than max_logits_rows (" + std::to_string(opts.max_logits_rows) + ") rows of logits");
    blocks += kv->blocks_needed(s, s.length + in.n_tokens);
  }
  if (blocks > kv->free_blocks())
    throw Error(ErrorCode::kInvalidArgument, "KV cache full: this step needs " + std::to_string(blocks) + " blocks of " +
                                                 std::to_string(kv->block_size()) + " tokens, " + std::to_string(kv->free_blocks()) +
                                                 " of " + std::to_string(kv->n_blocks()) +
                                                 " are free (end a sequence, or raise kv_cache_tokens)");

  // Lay out the batch: tokens in input order; output rows with logits first, then hidden
  // states (the transformer computes logits for a prefix of the output rows).
  int t = 0;
  for (int i = 0; i < n_inputs; ++i) {
    const StepInput& in = inputs[static_cast<size_t>(i)];
    SequenceBlocks& s = seqs[static_cast<size_t>(in.seq)];
    const int len = s.length + in.n_tokens;
    kv->reserve(s, len);
    first_token[static_cast<size_t>(i)] = t;
    for (int j = 0; j < in.n_tokens; ++j, ++t) {
      tokens[static_cast<size_t>(t)] = in.tokens[j];
      positions[static_cast<size_t>(t)] = s.length + j;
      seq_lens[static_cast<size_t>(t)] = len;
      tables[static_cast<size_t>(t)] = s.table.data();
      kv_slots[static_cast<size_t>(t)] = kv->slot(s, s.length + j);
    }
    out_hidden[static_cast<size_t>(i)] = in.output == StepOutput::kLastHidden || in.output == StepOutput::kAllHidden;
    const bool all = in.output == StepOutput::kAllLogits || in.output == StepOutput::kAllHidden;
    out_count[static_cast<size_t>(i)] = in.output == StepOutput::kNone ? 0 : all ? in.n_tokens : 1;
  }
  int o = 0, n_logits = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < n_inputs; ++i) {
      const int count = out_count[static_cast<size_t>(i)];
      if (count == 0 || out_hidden[static_cast<size_t>(i)] != (pass == 1)) continue;
      const int from = first_token[static_cast<size_t>(i)] + inputs[static_cast<size_t>(i)].n_tokens - count;
      first_out_row[static_cast<size_t>(i)] = o;
      for (int j = 0; j < count; ++j) out_rows[static_cast<size_t>(o++)] = from + j;
      if (pass == 0) n_logits += count;
    }
  TokenBatch b;
  b.n = n_tokens;
  b.tokens = tokens.data();
  b.positions = positions.data();
  b.seq_lens = seq_lens.data();
  b.block_tables = tables.data();
  b.kv_slots = kv_slots.data();
  b.n_out = o;
  b.out_rows = out_rows.data();
  b.n_logits = n_logits;
  transformer->forward(b, kv_buffers, hook ? &hook : nullptr);
  for (const StepInput& in : inputs) kv->advance(seqs[static_cast<size_t>(in.seq)], in.tokens, in.n_tokens);
  last_step_inputs = n_inputs;
}

Result<int> Engine::step(std::span<const StepInput> inputs) {
  return capture_errors([&] {
    impl_->last_step_inputs = 0;
    impl_->run(inputs);
    int n = 0;
    for (const StepInput& in : inputs) n += in.n_tokens;
    return n;
  });
}

const float* Engine::output(int i) const {
  const Impl& s = *impl_;
  if (i < 0 || i >= s.last_step_inputs || s.out_count[static_cast<size_t>(i)] == 0) return nullptr;
  const int row = s.first_out_row[static_cast<size_t>(i)];
  if (s.out_hidden[static_cast<size_t>(i)]) return s.transformer->hidden() + static_cast<int64_t>(row) * s.model->config().hidden_size;
  return s.transformer->logits() + static_cast<int64_t>(row) * s.model->config().vocab_size;
}

int Engine::output_rows(int i) const {
  if (i < 0 || i >= impl_->last_step_inputs) return 0;
  return impl_->out_count[static_cast<size_t>(i)];
}

KvCacheStats Engine::kv_stats() const {
  const KvCache& kv = *impl_->kv;
  return {kv.block_size(), kv.n_blocks(), kv.used_blocks(), kv.free_blocks(), kv.cached_blocks()};
}
const EngineOptions& Engine::options() const { return impl_->opts; }
const Model& Engine::model() const { return *impl_->model; }
std::string Engine::backend_name() const { return impl_->backend->name() + " x" + std::to_string(impl_->backend->n_threads()); }
void Engine::set_activation_hook(ActivationCallback hook) { impl_->hook = std::move(hook); }

}  // namespace wick
