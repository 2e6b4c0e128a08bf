#include "models/transformer.h"

#include <cmath>
#include <cstdio>

#include "wick/error.h"
#include "core/limits.h"

namespace wick {

Transformer::Transformer(const LoadedModel& model, Backend& backend, int max_tokens, int max_logit_rows, int max_ctx)
    : model_(model),
      cfg_(model.config),
      be_(backend),
      rope_(model.config),
      max_tokens_(max_tokens),
      max_logit_rows_(max_logit_rows),
      max_ctx_(max_ctx) {
  if (max_tokens <= 0 || max_logit_rows <= 0 || max_logit_rows > max_tokens)
    throw Error(ErrorCode::kInvalidArgument, "transformer: need 0 < logit rows (" + std::to_string(max_logit_rows) + ") <= batch tokens (" +
                                                 std::to_string(max_tokens) + ")");
  const size_t T = static_cast<size_t>(max_tokens);
  x_.resize(T * cfg_.hidden_size);
  h_.resize(T * cfg_.hidden_size);
  q_.resize(T * cfg_.q_dim());
  k_.resize(T * cfg_.kv_dim());
  v_.resize(T * cfg_.kv_dim());
  att_.resize(T * cfg_.q_dim());
  proj_.resize(T * cfg_.hidden_size);
  gate_.resize(T * cfg_.intermediate_size);
  up_.resize(T * cfg_.intermediate_size);
  logits_.resize(static_cast<size_t>(max_logit_rows) * cfg_.vocab_size);
  out_.resize(T * cfg_.hidden_size);
  cos_.resize(T * cfg_.head_dim / 2);
  sin_.resize(T * cfg_.head_dim / 2);
  const int64_t widest = std::max({cfg_.hidden_size, cfg_.intermediate_size, cfg_.q_dim()});
  backend.reserve(widest, max_ctx, max_tokens);
}

void Transformer::emit(const ActivationCallback* hook, const char* name, int layer, const float* data, int rows, int cols) const {
  if (!hook || !*hook) return;
  char buf[64];
  if (layer >= 0)
    std::snprintf(buf, sizeof buf, "blk.%d.%s", layer, name);
  else
    std::snprintf(buf, sizeof buf, "%s", name);
  (*hook)(buf, data, rows, cols);
}

const float* Transformer::forward(const TokenBatch& b, const KvLayout& kv, const ActivationCallback* hook) {
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
  const ModelWeights& w = model_.weights;
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  const float scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));

  // cos/sin per token at its own position; transformers picks dynamic/longrope frequencies from
  // max(position_ids) + 1, i.e. the length of the token's sequence after this call.
  const int half = cfg_.head_dim / 2;
  for (int t = 0; t < n; ++t)
    rope_.compute(b.positions[t], 1, b.seq_lens[t], cos_.data() + static_cast<size_t>(t) * half,
                  sin_.data() + static_cast<size_t>(t) * half);

  be_.embed(x_.data(), w.token_embd, b.tokens, n);  // x: [n, H]
  emit(hook, "embd", -1, x_.data(), n, H);

  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    void* k_cache = kv.k[static_cast<size_t>(l)];
    void* v_cache = kv.v[static_cast<size_t>(l)];

    // --- self-attention (LlamaAttention) ---
    be_.rms_norm(h_.data(), x_.data(), n, H, L.attn_norm, eps);
    emit(hook, "attn_norm", l, h_.data(), n, H);
    be_.matmul(q_.data(), h_.data(), n, L.wq, &L.bq);  // q: [n, Q]
    be_.matmul(k_.data(), h_.data(), n, L.wk, &L.bk);  // k: [n, KV]
    be_.matmul(v_.data(), h_.data(), n, L.wv, &L.bv);  // v: [n, KV]
    if (cfg_.qk_norm) {                                // Qwen3: RMSNorm of every head before rope, q as [n * heads, head_dim]
      be_.rms_norm(q_.data(), q_.data(), n * cfg_.num_heads, cfg_.head_dim, L.q_norm, eps);
      be_.rms_norm(k_.data(), k_.data(), n * cfg_.num_kv_heads, cfg_.head_dim, L.k_norm, eps);
    }
    be_.rope(q_.data(), n, cfg_.num_heads, cfg_.head_dim, Q, cos_.data(), sin_.data());
    be_.rope(k_.data(), n, cfg_.num_kv_heads, cfg_.head_dim, KV, cos_.data(), sin_.data());
    be_.scatter_rows(k_cache, kv.dtype, b.kv_rows, k_.data(), n, KV);  // into each token's cache row
    be_.scatter_rows(v_cache, kv.dtype, b.kv_rows, v_.data(), n, KV);
    AttentionArgs a{att_.data(),
                    q_.data(),
                    k_cache,
                    v_cache,
                    n,
                    b.positions,
                    b.block_tables,
                    kv.block_size,
                    cfg_.num_heads,
                    cfg_.num_kv_heads,
                    cfg_.head_dim,
                    cfg_.sliding_window[static_cast<size_t>(l)],
                    scale,
                    kv.dtype};
    be_.attention(a);                                       // att: [n, Q]
    be_.matmul(proj_.data(), att_.data(), n, L.wo, &L.bo);  // [n, H]
    emit(hook, "attn_out", l, proj_.data(), n, H);
    be_.add(x_.data(), proj_.data(), static_cast<int64_t>(n) * H);

    // --- MLP (LlamaMLP): down(act(gate(x)) * up(x)), act = ACT2FN[hidden_act] ---
    be_.rms_norm(h_.data(), x_.data(), n, H, L.ffn_norm, eps);
    emit(hook, "ffn_norm", l, h_.data(), n, H);
    be_.matmul(gate_.data(), h_.data(), n, L.w_gate, &L.b_gate);  // [n, I]
    be_.matmul(up_.data(), h_.data(), n, L.w_up, &L.b_up);        // [n, I]
    be_.gated_activation(gate_.data(), up_.data(), static_cast<int64_t>(n) * I, cfg_.hidden_act);
    be_.matmul(proj_.data(), gate_.data(), n, L.w_down, &L.b_down);  // [n, H]
    emit(hook, "ffn_out", l, proj_.data(), n, H);
    be_.add(x_.data(), proj_.data(), static_cast<int64_t>(n) * H);
    emit(hook, "out", l, x_.data(), n, H);
  }

  // Final norm of the output rows only, and the LM head for those that want logits.
  const int m = b.n_out;
  if (m == 0) return out_.data();
  be_.gather_rows(h_.data(), x_.data(), b.out_rows, m, H);  // [m, H]
  be_.rms_norm(out_.data(), h_.data(), m, H, w.output_norm, eps);
  emit(hook, "out_norm", -1, out_.data(), m, H);
  if (b.n_logits > 0) {
    be_.matmul(logits_.data(), out_.data(), b.n_logits, w.output, nullptr);  // [n_logits, vocab]
    emit(hook, "logits", -1, logits_.data(), b.n_logits, cfg_.vocab_size);
  }
  return out_.data();
}

}  // namespace wick
