#include <algorithm>
#include <filesystem>

#include "backends/backend.h"
#include "models/model.h"
#include "models/transformer.h"
#include "runtime/model_internals.h"
#include "wick/engine.h"
#include "wick/model.h"
#include "core/limits.h"

namespace wick {

Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::load(const std::string& dir, const LoadOptions& opts) {
  return capture_errors([&] {
    std::shared_ptr<Model> m(new Model());
    std::optional<QuantTarget> target;
    if (!opts.dtype.empty()) {
      target = quant_target_from_name(opts.dtype);
      if (!target)
        throw Error(ErrorCode::kInvalidArgument, "unknown weight dtype '" + opts.dtype + "' (known: " + quant_target_names() + ")");
    }
    const bool gguf = std::filesystem::is_regular_file(dir) && GgufFile::has_magic(dir);
    if (std::filesystem::is_regular_file(dir) && !gguf)
      throw Error(ErrorCode::kCorruptFile, dir + " is not a GGUF file (it does not start with \"GGUF\"), nor a model directory");
    m->loaded_ = gguf ? load_gguf_model(dir) : load_hf_model(dir);
    if (target) quantize_loaded_model(*m->loaded_, *target);
    auto tok = gguf ? Tokenizer::from_gguf(*m->loaded_->gguf) : Tokenizer::from_dir(dir);
    if (!tok) throw tok.error();
    m->tokenizer_ = tok.value();
    if (m->tokenizer_->vocab_size() > m->loaded_->config.vocab_size)
      throw Error(ErrorCode::kShapeMismatch, dir + ": the tokenizer has " + std::to_string(m->tokenizer_->vocab_size()) +
                                                 " tokens but the model's vocab_size is " + std::to_string(m->loaded_->config.vocab_size));
    return m;
  });
}

const LoadedModel& loaded_model(const Model& model) { return *model.loaded_; }

const ModelConfig& Model::config() const { return loaded_->config; }
const Tokenizer& Model::tokenizer() const { return *tokenizer_; }

ModelInfo Model::info() const {
  ModelInfo i;
  i.n_params = loaded_->n_params;
  i.weight_bytes = loaded_->weight_bytes;
  for (const auto& kv : loaded_->params_by_dtype) i.params_by_dtype.push_back(kv);
  i.weights_description = loaded_->weights_description;
  const ModelWeights& w = loaded_->weights;
  uint64_t per_token = w.token_embd.row_bytes() + w.output.nbytes() + w.output_norm.nbytes() + w.output_norm_b.nbytes();
  for (const LayerWeights& L : w.layers)
    for (const Tensor* t : L.all())
      if (!t->empty()) per_token += t->nbytes();
  i.bytes_read_per_token = per_token;
  return i;
}

struct Session::Impl {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Engine> engine;  // one sequence on a block KV cache sized for the context
  SequenceId seq = -1;
  int batch_tokens = 0;
  bool all_logits = false;
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model, const SessionOptions& opts) {
  return capture_errors([&] {
    if (opts.batch_tokens <= 0) throw Error(ErrorCode::kInvalidArgument, "batch_tokens must be positive");
    if (opts.context_length < 0) throw Error(ErrorCode::kInvalidArgument, "context length must be >= 0");
    EngineOptions eo;
    eo.device = opts.device;
    eo.n_threads = opts.n_threads;
    eo.context_length = opts.context_length;
    eo.max_sequences = 1;
    const int ctx = opts.context_length > 0 ? opts.context_length : default_context_length(model->config().max_context());
    eo.max_batch_tokens = std::min(opts.batch_tokens, std::max(ctx, 1));
    eo.max_logits_rows = opts.all_logits ? eo.max_batch_tokens : 1;
    eo.kv_cache_tokens = ctx;
    eo.kv_dtype = opts.kv_dtype;
    eo.kv_block_size = opts.kv_block_size;
    auto engine = Engine::create(model, eo);
    if (!engine) throw engine.error();
    auto impl = std::make_unique<Impl>();
    impl->model = model;
    impl->engine = std::move(engine.value());
    impl->seq = impl->engine->add_sequence().value();
    impl->batch_tokens = eo.max_batch_tokens;
    impl->all_logits = opts.all_logits;
    return std::unique_ptr<Session>(new Session(std::move(impl)));
  });
}

Result<const float*> Session::append(const int* tokens, int count) {
  return capture_errors([&]() -> const float* {
    Impl& s = *impl_;
    if (count <= 0) throw Error(ErrorCode::kInvalidArgument, "append: no tokens");
    const int pos = s.engine->sequence_length(s.seq);
    check_length_fits_context(pos + count, context_length(), "sequence");
    for (int off = 0; off < count; off += s.batch_tokens) {
      const int n = std::min(count - off, s.batch_tokens);
      const bool last = off + n == count;
      const StepInput in{s.seq, tokens + off, n,
                         !last          ? StepOutput::kNone
                         : s.all_logits ? StepOutput::kAllLogits
                                        : StepOutput::kLastLogits};
      auto r = s.engine->step(std::span<const StepInput>(&in, 1));
      if (!r) throw r.error();
    }
    return s.engine->output(0);
  });
}

void Session::reset() { impl_->engine->clear_sequence(impl_->seq); }
Result<int> Session::truncate(int length) { return impl_->engine->truncate_sequence(impl_->seq, length); }
int Session::position() const { return impl_->engine->sequence_length(impl_->seq); }
int Session::context_length() const { return impl_->engine->options().context_length; }
void Session::set_activation_hook(ActivationCallback hook) { impl_->engine->set_activation_hook(std::move(hook)); }
const Model& Session::model() const { return *impl_->model; }
std::string Session::backend_name() const { return impl_->engine->backend_name(); }

}  // namespace wick
