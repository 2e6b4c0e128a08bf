#include <algorithm>

#include "backends/backend.h"
#include "models/model.h"
#include "models/transformer.h"
#include "wick/model.h"

namespace wick {

Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::load(const std::string& dir) {
  return capture_errors([&] {
    std::shared_ptr<Model> m(new Model());
    m->loaded_ = load_hf_model(dir);
    auto tok = Tokenizer::from_dir(dir);
    if (!tok) throw tok.error();
    m->tokenizer_ = tok.value();
    if (m->tokenizer_->vocab_size() > m->loaded_->config.vocab_size)
      throw Error(ErrorCode::kShapeMismatch, dir + ": tokenizer.json has " + std::to_string(m->tokenizer_->vocab_size()) +
                                                 " tokens but the model's vocab_size is " + std::to_string(m->loaded_->config.vocab_size));
    return m;
  });
}

const ModelConfig& Model::config() const { return loaded_->config; }
const Tokenizer& Model::tokenizer() const { return *tokenizer_; }

ModelInfo Model::info() const {
  ModelInfo i;
  i.n_params = loaded_->n_params;
  i.weight_bytes = loaded_->weight_bytes;
  for (const auto& kv : loaded_->params_by_dtype) i.params_by_dtype.push_back(kv);
  i.weights_description = loaded_->files->describe();
  return i;
}

struct Session::Impl {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transformer> transformer;
  std::vector<float> k_store, v_store;  // [layers][ctx][kv_dim]
  KvLayout kv;
  int pos = 0;
  int batch_tokens = 0;
  ActivationHook hook;
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model, const SessionOptions& opts) {
  return capture_errors([&] {
    const ModelConfig& cfg = model->config();
    const int model_max = cfg.max_context();
    int ctx = opts.context_length > 0 ? opts.context_length : std::min(model_max, 8192);
    if (ctx > model_max)
      throw Error(ErrorCode::kInvalidArgument, "context length " + std::to_string(ctx) + " exceeds the model's maximum of " +
                                                   std::to_string(model_max));
    if (opts.batch_tokens <= 0) throw Error(ErrorCode::kInvalidArgument, "batch_tokens must be positive");
    if (opts.n_threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads must be >= 0");
    auto impl = std::make_unique<Impl>();
    impl->model = model;
    impl->backend = make_cpu_backend(opts.n_threads);
    impl->batch_tokens = std::min(opts.batch_tokens, ctx);
    impl->transformer = std::make_unique<Transformer>(model->internals(), *impl->backend, impl->batch_tokens, ctx, opts.all_logits);
    const size_t per_layer = static_cast<size_t>(ctx) * static_cast<size_t>(cfg.kv_dim());
    impl->k_store.assign(per_layer * static_cast<size_t>(cfg.num_layers), 0.0f);
    impl->v_store.assign(per_layer * static_cast<size_t>(cfg.num_layers), 0.0f);
    impl->kv.max_ctx = ctx;
    for (int l = 0; l < cfg.num_layers; ++l) {
      impl->kv.k.push_back(impl->k_store.data() + per_layer * static_cast<size_t>(l));
      impl->kv.v.push_back(impl->v_store.data() + per_layer * static_cast<size_t>(l));
    }
    return std::unique_ptr<Session>(new Session(std::move(impl)));
  });
}

Result<const float*> Session::append(const int* tokens, int count) {
  static_assert(sizeof(int) == sizeof(int32_t));
  return capture_errors([&]() -> const float* {
    Impl& s = *impl_;
    if (count <= 0) throw Error(ErrorCode::kInvalidArgument, "append: no tokens");
    if (s.pos + count > s.kv.max_ctx)
      throw Error(ErrorCode::kInvalidArgument, "sequence of " + std::to_string(s.pos + count) +
                                                   " tokens exceeds the context length " + std::to_string(s.kv.max_ctx));
    const float* logits = nullptr;
    for (int off = 0; off < count; off += s.batch_tokens) {
      const int n = std::min(count - off, s.batch_tokens);
      logits = s.transformer->forward(reinterpret_cast<const int32_t*>(tokens + off), n, s.pos, s.kv,
                                      s.hook ? &s.hook : nullptr);
      s.pos += n;
    }
    return logits;
  });
}

void Session::reset() { impl_->pos = 0; }
int Session::position() const { return impl_->pos; }
int Session::context_length() const { return impl_->kv.max_ctx; }
void Session::set_activation_hook(ActivationCallback hook) { impl_->hook = std::move(hook); }
const Model& Session::model() const { return *impl_->model; }
std::string Session::backend_name() const {
  return impl_->backend->name() + " x" + std::to_string(impl_->backend->n_threads());
}

}  // namespace wick
