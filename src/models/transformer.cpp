#include "models/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "wick/error.h"
#include "core/limits.h"

namespace wick {

namespace {

// The model's weights as `be` reads them: views of the loaded ones for a backend that reads host
// memory in place, uploads otherwise (a tied output matrix uploaded once).
ModelWeights place_weights(Backend& be, const ModelWeights& host, std::vector<BackendBuffer>& owned) {
  auto place = [&](const Tensor& t) { return be.place_weight(t, owned); };
  ModelWeights w;
  w.token_embd = place(host.token_embd);
  w.output_norm = place(host.output_norm);
  w.output_norm_b = place(host.output_norm_b);
  w.output = host.output.data == host.token_embd.data ? w.token_embd : place(host.output);
  for (const LayerWeights& h : host.layers) {
    const auto from = h.all();
    const auto to = w.layers.emplace_back().all();
    for (size_t i = 0; i < from.size(); ++i) *to[i] = place(*from[i]);
  }
  return w;
}

}  // namespace

Transformer::Transformer(const LoadedModel& model, Backend& backend, int max_tokens, int max_logit_rows, int max_ctx, int kv_block_size)
    : cfg_(model.config),
      be_(backend),
      rope_(model.config),
      max_tokens_(max_tokens),
      max_logit_rows_(max_logit_rows),
      max_ctx_(max_ctx),
      block_size_(kv_block_size) {
  if (max_tokens <= 0 || max_logit_rows <= 0 || max_logit_rows > max_tokens)
    throw Error(ErrorCode::kInvalidArgument, "transformer: need 0 < logit rows (" + std::to_string(max_logit_rows) + ") <= batch tokens (" +
                                                 std::to_string(max_tokens) + ")");
  if (kv_block_size <= 0 || max_ctx <= 0)
    throw Error(ErrorCode::kInvalidArgument, "transformer: context and KV block size must be positive");
  w_ = place_weights(backend, model.weights, weight_buffers_);
  table_stride_ = (max_ctx + kv_block_size - 1) / kv_block_size;

  // One allocation, carved into 64-byte aligned arrays.
  const int64_t T = max_tokens, H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
  const int64_t half = cfg_.head_dim / 2;
  struct Slot {
    BufferRef* ref;
    int64_t bytes;
  };
  const Slot slots[] = {
      {&x_, T * H * 4},
      {&h_, T * H * 4},
      {&q_, T * Q * 4},
      {&k_, T * KV * 4},
      {&v_, T * KV * 4},
      {&att_, T * Q * 4},
      {&proj_, T * H * 4},
      {&gate_, T * I * 4},
      {&up_, T * I * 4},
      {&out_, T * H * 4},
      {&logits_, static_cast<int64_t>(max_logit_rows) * cfg_.vocab_size * 4},
      {&cos_, T * half * 4},
      {&sin_, T * half * 4},
      {&tokens_, T * 4},
      {&positions_, T * 4},
      {&seq_, T * 4},
      {&out_rows_, T * 4},
      {&kv_slots_, T * 8},
      {&tables_, T * table_stride_ * 4},
  };
  auto aligned = [](int64_t bytes) { return (bytes + 63) / 64 * 64; };
  int64_t total = 0;
  for (const Slot& s : slots) total += aligned(s.bytes);
  memory_ = BackendBuffer(backend, static_cast<size_t>(total));
  int64_t offset = 0;
  for (const Slot& s : slots) {
    *s.ref = memory_.ref(offset);
    offset += aligned(s.bytes);
  }
  seq_host_.resize(static_cast<size_t>(T));
  tables_host_.resize(static_cast<size_t>(T * table_stride_));
  cos_host_.resize(static_cast<size_t>(T * half));
  sin_host_.resize(static_cast<size_t>(T * half));
  hidden_host_.resize(static_cast<size_t>(T * H));
  logits_host_.resize(static_cast<size_t>(max_logit_rows) * static_cast<size_t>(cfg_.vocab_size));
  const int64_t widest = std::max({cfg_.hidden_size, cfg_.intermediate_size, cfg_.q_dim()});
  backend.reserve(widest, max_ctx, max_tokens);
}

void Transformer::norm(BufferRef y, BufferRef x, int n, const Tensor& weight, const Tensor& bias) {
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  if (cfg_.layer_norm)  // StableLM: nn.LayerNorm
    be_.layer_norm(y, x, n, cfg_.hidden_size, weight, bias.empty() ? nullptr : &bias, eps);
  else
    be_.rms_norm(y, x, n, cfg_.hidden_size, weight, eps, cfg_.norm_weight_offset);
}

void Transformer::emit(const ActivationCallback* hook, const char* name, int layer, BufferRef data, int rows, int cols) {
  if (!hook || !*hook) return;
  char buf[64];
  if (layer >= 0)
    std::snprintf(buf, sizeof buf, "blk.%d.%s", layer, name);
  else
    std::snprintf(buf, sizeof buf, "%s", name);
  const size_t count = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  if (hook_host_.size() < count) hook_host_.resize(count);  // a debugging path: may grow
  be_.download(hook_host_.data(), data, count * sizeof(float));
  (*hook)(buf, hook_host_.data(), rows, cols);
}

void Transformer::upload_inputs(const TokenBatch& b) {
  const int n = b.n;
  const size_t n4 = static_cast<size_t>(n) * 4;
  // cos/sin per token at its own position; transformers picks dynamic/longrope frequencies from
  // max(position_ids) + 1, i.e. the length of the token's sequence after this call.
  const int half = cfg_.rope_dims() / 2;
  for (int t = 0; t < n; ++t)
    rope_.compute(b.positions[t], 1, b.seq_lens[t], cos_host_.data() + static_cast<size_t>(t) * half,
                  sin_host_.data() + static_cast<size_t>(t) * half);
  // One block table per run of tokens sharing it (a prefill chunk is one run), holding the
  // blocks up to the run's highest position.
  int n_seqs = 0, top = 0;
  for (int t = 0; t < n; ++t) {
    const int32_t* table = b.block_tables[t];
    if (t == 0 || table != b.block_tables[t - 1]) ++n_seqs, top = 0;
    seq_host_[static_cast<size_t>(t)] = n_seqs - 1;
    top = std::max(top, b.positions[t]);
    if (t + 1 == n || b.block_tables[t + 1] != table)  // the run ends
      std::copy(table, table + top / block_size_ + 1, tables_host_.begin() + static_cast<ptrdiff_t>(n_seqs - 1) * table_stride_);
  }
  be_.upload(tokens_, b.tokens, n4);
  be_.upload(positions_, b.positions, n4);
  be_.upload(seq_, seq_host_.data(), n4);
  be_.upload(kv_slots_, b.kv_slots, static_cast<size_t>(n) * 8);
  if (b.n_out > 0) be_.upload(out_rows_, b.out_rows, static_cast<size_t>(b.n_out) * 4);
  be_.upload(tables_, tables_host_.data(), static_cast<size_t>(n_seqs) * static_cast<size_t>(table_stride_) * 4);
  be_.upload(cos_, cos_host_.data(), static_cast<size_t>(n) * half * 4);
  be_.upload(sin_, sin_host_.data(), static_cast<size_t>(n) * half * 4);
}

const float* Transformer::forward(const TokenBatch& b, const KvCacheBuffers& kv, const ActivationCallback* hook) {
  const int n = b.n;
  if (n <= 0 || n > max_tokens_)
    throw Error(ErrorCode::kInternal, "forward: " + std::to_string(n) + " tokens, at most " + std::to_string(max_tokens_));
  if (b.n_out < 0 || b.n_out > n || b.n_logits < 0 || b.n_logits > b.n_out || b.n_logits > max_logit_rows_)
    throw Error(ErrorCode::kInternal,
                "forward: " + std::to_string(b.n_logits) + " rows of logits, at most " + std::to_string(max_logit_rows_));
  check_token_ids(b.tokens, static_cast<size_t>(n), cfg_.vocab_size);
  for (int t = 0; t < n; ++t) {
    if (b.positions[t] < 0 || b.positions[t] >= max_ctx_)
      throw Error(ErrorCode::kInvalidArgument,
                  "forward: position " + std::to_string(b.positions[t]) + " is beyond the context of " + std::to_string(max_ctx_));
  }
  if (kv.block_size != block_size_ || static_cast<int>(kv.k.size()) != cfg_.num_layers)
    throw Error(ErrorCode::kInternal, "forward: KV layout of block size " + std::to_string(kv.block_size) + ", the transformer's is " +
                                          std::to_string(block_size_));
  upload_inputs(b);
  const ModelWeights& w = w_;
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
  const float eps = static_cast<float>(cfg_.rms_norm_eps), offset = cfg_.norm_weight_offset;
  const float scale = cfg_.query_scale > 0 ? cfg_.query_scale : 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));

  be_.embed(x_, w.token_embd, tokens_, n);                                                         // x: [n, H]
  if (cfg_.embedding_scale > 0) be_.scale(x_, static_cast<int64_t>(n) * H, cfg_.embedding_scale);  // Gemma: sqrt(H)
  emit(hook, "embd", -1, x_, n, H);

  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const BufferRef k_cache = kv.k[static_cast<size_t>(l)];
    const BufferRef v_cache = kv.v[static_cast<size_t>(l)];

    // --- self-attention (LlamaAttention) ---
    norm(h_, x_, n, L.attn_norm, L.attn_norm_b);
    emit(hook, "attn_norm", l, h_, n, H);
    const Backend::Product qkv[] = {{q_, &L.wq, &L.bq},   // q: [n, Q]
                                    {k_, &L.wk, &L.bk},   // k: [n, KV]
                                    {v_, &L.wv, &L.bv}};  // v: [n, KV]
    be_.matmuls(qkv, h_, n);
    if (cfg_.qk_norm) {  // Qwen3: RMSNorm of every head before rope, q as [n * heads, head_dim]
      be_.rms_norm(q_, q_, n * cfg_.num_heads, cfg_.head_dim, L.q_norm, eps, offset);
      be_.rms_norm(k_, k_, n * cfg_.num_kv_heads, cfg_.head_dim, L.k_norm, eps, offset);
    }
    be_.rope(q_, n, cfg_.num_heads, cfg_.head_dim, cfg_.rope_dims(), Q, cos_, sin_);
    be_.rope(k_, n, cfg_.num_kv_heads, cfg_.head_dim, cfg_.rope_dims(), KV, cos_, sin_);
    const KvLayout layout{.block_size = kv.block_size, .n_kv_heads = cfg_.num_kv_heads, .head_dim = cfg_.head_dim};
    be_.store_kv(k_cache, kv.dtype, layout, kv_slots_, k_, n);  // into each token's cache slot
    be_.store_kv(v_cache, kv.dtype, layout, kv_slots_, v_, n);
    const AttentionArgs a{.out = att_,
                          .q = q_,
                          .k_cache = k_cache,
                          .v_cache = v_cache,
                          .n_tokens = n,
                          .positions = positions_,
                          .seq = seq_,
                          .block_tables = tables_,
                          .table_stride = table_stride_,
                          .block_size = kv.block_size,
                          .n_heads = cfg_.num_heads,
                          .n_kv_heads = cfg_.num_kv_heads,
                          .head_dim = cfg_.head_dim,
                          .window = cfg_.sliding_window[static_cast<size_t>(l)],
                          .scale = scale,
                          .softcap = cfg_.attn_softcap,
                          .kv_dtype = kv.dtype};
    be_.attention(a);                                                        // att: [n, Q]
    be_.matmul(proj_, att_, n, L.wo, &L.bo);                                 // [n, H]
    if (cfg_.post_norms) norm(proj_, proj_, n, L.attn_post_norm, Tensor{});  // Gemma 2's post_attention_layernorm
    emit(hook, "attn_out", l, proj_, n, H);
    be_.add(x_, proj_, static_cast<int64_t>(n) * H);

    // --- MLP (LlamaMLP): down(act(gate(x)) * up(x)), act = ACT2FN[hidden_act] ---
    norm(h_, x_, n, L.ffn_norm, L.ffn_norm_b);
    emit(hook, "ffn_norm", l, h_, n, H);
    const Backend::Product gate_up[] = {{gate_, &L.w_gate, &L.b_gate},  // [n, I]
                                        {up_, &L.w_up, &L.b_up}};       // [n, I]
    be_.matmuls(gate_up, h_, n);
    be_.gated_activation(gate_, up_, static_cast<int64_t>(n) * I, cfg_.hidden_act);
    be_.matmul(proj_, gate_, n, L.w_down, &L.b_down);                       // [n, H]
    if (cfg_.post_norms) norm(proj_, proj_, n, L.ffn_post_norm, Tensor{});  // post_feedforward_layernorm
    emit(hook, "ffn_out", l, proj_, n, H);
    be_.add(x_, proj_, static_cast<int64_t>(n) * H);
    emit(hook, "out", l, x_, n, H);
  }

  // Final norm of the output rows only, and the LM head for those that want logits.
  const int m = b.n_out;
  if (m == 0) return hidden_host_.data();
  be_.gather_rows(h_, x_, out_rows_, m, H);  // [m, H]
  norm(out_, h_, m, w.output_norm, w.output_norm_b);
  emit(hook, "out_norm", -1, out_, m, H);
  if (b.n_logits > 0) {
    be_.matmul(logits_, out_, b.n_logits, w.output, nullptr);  // [n_logits, vocab]
    if (cfg_.final_softcap > 0) be_.softcap(logits_, static_cast<int64_t>(b.n_logits) * cfg_.vocab_size, cfg_.final_softcap);
    emit(hook, "logits", -1, logits_, b.n_logits, cfg_.vocab_size);
    be_.download(logits_host_.data(), logits_, static_cast<size_t>(b.n_logits) * static_cast<size_t>(cfg_.vocab_size) * 4);
  }
  be_.download(hidden_host_.data(), out_, static_cast<size_t>(m) * static_cast<size_t>(H) * 4);
  return hidden_host_.data();
}

}  // namespace wick
