#include "models/transformer.h"

#include <cmath>
#include <cstdio>

#include "wick/error.h"

namespace wick {

Transformer::Transformer(const LoadedModel& model, Backend& backend, int max_tokens, int max_ctx, bool all_logits)
    : model_(model), cfg_(model.config), be_(backend), rope_(model.config), max_tokens_(max_tokens), all_logits_(all_logits) {
  const size_t T = static_cast<size_t>(max_tokens);
  x_.resize(T * cfg_.hidden_size);
  h_.resize(T * cfg_.hidden_size);
  q_.resize(T * cfg_.q_dim());
  att_.resize(T * cfg_.q_dim());
  proj_.resize(T * cfg_.hidden_size);
  gate_.resize(T * cfg_.intermediate_size);
  up_.resize(T * cfg_.intermediate_size);
  logits_.resize((all_logits ? T : 1) * cfg_.vocab_size);
  cos_.resize(T * cfg_.head_dim / 2);
  sin_.resize(T * cfg_.head_dim / 2);
  const int64_t widest = std::max({cfg_.hidden_size, cfg_.intermediate_size, cfg_.q_dim()});
  backend.reserve(widest, max_ctx);
}

void Transformer::emit(const ActivationHook* hook, const char* name, int layer, const float* data, int rows,
                       int cols) const {
  if (!hook || !*hook) return;
  char buf[64];
  if (layer >= 0) std::snprintf(buf, sizeof buf, "blk.%d.%s", layer, name);
  else std::snprintf(buf, sizeof buf, "%s", name);
  (*hook)(buf, data, rows, cols);
}

const float* Transformer::forward(const int32_t* tokens, int n, int pos0, const KvLayout& kv, const ActivationHook* hook) {
  if (n <= 0 || n > max_tokens_)
    throw Error(ErrorCode::kInternal, "forward: " + std::to_string(n) + " tokens, at most " + std::to_string(max_tokens_));
  if (pos0 < 0 || pos0 + n > kv.max_ctx)
    throw Error(ErrorCode::kInvalidArgument, "forward: positions up to " + std::to_string(pos0 + n) +
                                                 " exceed the KV cache of " + std::to_string(kv.max_ctx));
  for (int t = 0; t < n; ++t)
    if (tokens[t] < 0 || tokens[t] >= cfg_.vocab_size)
      throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(tokens[t]) + " is outside the vocabulary (" +
                                                   std::to_string(cfg_.vocab_size) + ")");
  const ModelWeights& w = model_.weights;
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
  const float eps = static_cast<float>(cfg_.rms_norm_eps);
  const float scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));

  // cos/sin for this call's positions; transformers picks dynamic/longrope frequencies from
  // max(position_ids) + 1, i.e. the sequence length after this call.
  rope_.compute(pos0, n, pos0 + n, cos_.data(), sin_.data());

  be_.embed(x_.data(), w.token_embd, tokens, n);  // x: [n, H]
  emit(hook, "embd", -1, x_.data(), n, H);

  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    float* k_cache = kv.k[static_cast<size_t>(l)];
    float* v_cache = kv.v[static_cast<size_t>(l)];
    float* k_new = k_cache + static_cast<int64_t>(pos0) * KV;  // this call's rows of the cache
    float* v_new = v_cache + static_cast<int64_t>(pos0) * KV;

    // --- self-attention (LlamaAttention) ---
    be_.rms_norm(h_.data(), x_.data(), n, H, L.attn_norm, eps);
    emit(hook, "attn_norm", l, h_.data(), n, H);
    be_.matmul(q_.data(), h_.data(), n, L.wq, &L.bq);  // q: [n, Q]
    be_.matmul(k_new, h_.data(), n, L.wk, &L.bk);      // k: [n, KV], straight into the cache
    be_.matmul(v_new, h_.data(), n, L.wv, &L.bv);      // v: [n, KV]
    be_.rope(q_.data(), n, cfg_.num_heads, cfg_.head_dim, Q, cos_.data(), sin_.data());
    be_.rope(k_new, n, cfg_.num_kv_heads, cfg_.head_dim, KV, cos_.data(), sin_.data());
    AttentionArgs a{att_.data(), q_.data(), k_cache, v_cache, n, pos0, cfg_.num_heads, cfg_.num_kv_heads,
                    cfg_.head_dim, cfg_.sliding_window[static_cast<size_t>(l)], scale};
    be_.attention(a);                                       // att: [n, Q]
    be_.matmul(proj_.data(), att_.data(), n, L.wo, &L.bo);  // [n, H]
    emit(hook, "attn_out", l, proj_.data(), n, H);
    be_.add(x_.data(), proj_.data(), static_cast<int64_t>(n) * H);

    // --- MLP (LlamaMLP): down(silu(gate(x)) * up(x)) ---
    be_.rms_norm(h_.data(), x_.data(), n, H, L.ffn_norm, eps);
    emit(hook, "ffn_norm", l, h_.data(), n, H);
    be_.matmul(gate_.data(), h_.data(), n, L.w_gate, &L.b_gate);  // [n, I]
    be_.matmul(up_.data(), h_.data(), n, L.w_up, &L.b_up);        // [n, I]
    be_.silu_mul(gate_.data(), up_.data(), static_cast<int64_t>(n) * I);
    be_.matmul(proj_.data(), gate_.data(), n, L.w_down, &L.b_down);  // [n, H]
    emit(hook, "ffn_out", l, proj_.data(), n, H);
    be_.add(x_.data(), proj_.data(), static_cast<int64_t>(n) * H);
    emit(hook, "out", l, x_.data(), n, H);
  }

  // Final norm and LM head; without all_logits only the last token needs them.
  const int first = all_logits_ ? 0 : n - 1;
  const int m = n - first;
  be_.rms_norm(h_.data(), x_.data() + static_cast<int64_t>(first) * H, m, H, w.output_norm, eps);
  emit(hook, "out_norm", -1, h_.data(), m, H);
  be_.matmul(logits_.data(), h_.data(), m, w.output, nullptr);  // [m, vocab]
  emit(hook, "logits", -1, logits_.data(), m, cfg_.vocab_size);
  return logits_.data();
}

}  // namespace wick
