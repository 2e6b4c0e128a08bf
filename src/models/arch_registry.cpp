#include <algorithm>
#include <cstring>
#include <map>

#include "models/arch.h"
#include "wick/error.h"

namespace wick {

std::string layer_name(const std::string& pattern, int layer) {
  std::string out = pattern;
  const auto pos = out.find("{L}");
  if (pos != std::string::npos) out.replace(pos, 3, std::to_string(layer));
  return out;
}

const ArchSpec& find_arch(const std::string& model_type, const std::vector<std::string>& architectures,
                          const std::string& config_path) {
  const ArchSpec* all[] = {&llama_arch(), &mistral_arch(), &qwen2_arch(), &phi3_arch()};
  for (const ArchSpec* a : all)
    if (model_type == a->model_type) return *a;
  if (model_type.empty())
    for (const ArchSpec* a : all)
      for (const auto& name : architectures)
        if (std::find(a->architectures.begin(), a->architectures.end(), name) != a->architectures.end()) return *a;
  std::string arch_list;
  for (const auto& n : architectures) arch_list += (arch_list.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kUnsupported, config_path + ": model_type \"" + model_type + "\"" +
                                           (arch_list.empty() ? "" : " (architectures: " + arch_list + ")") +
                                           " is not supported; supported: llama, mistral, qwen2, phi3");
}

const ArchSpec& find_gguf_arch(const std::string& gguf_arch, const std::string& file) {
  for (const ArchSpec* a : {&llama_arch(), &qwen2_arch(), &phi3_arch()})
    if (gguf_arch == a->gguf_arch) return *a;
  throw Error(ErrorCode::kUnsupported, file + ": general.architecture \"" + gguf_arch +
                                           "\" is not supported; supported: llama, qwen2, phi3");
}

std::vector<WeightSpec> expand_weight_table(const ArchSpec& arch, const ModelConfig& cfg) {
  std::vector<WeightSpec> out;
  for (const WeightSpec& s : arch.weight_table(cfg)) {
    const int n = (s.flags & kPerLayer) ? cfg.num_layers : 1;
    for (int l = 0; l < n; ++l) {
      WeightSpec e = s;
      e.canonical = layer_name(s.canonical, l);
      e.hf_name = layer_name(s.hf_name, l);
      if (!e.gguf_name.empty()) e.gguf_name = layer_name(s.gguf_name, l);
      out.push_back(std::move(e));
    }
  }
  return out;
}

void reorder_qk_rows(const uint8_t* src, uint8_t* dst, int64_t n_rows, uint64_t row_bytes, int n_heads, bool to_gguf) {
  const int64_t hd = n_rows / n_heads, half = hd / 2;
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        const uint64_t gguf = static_cast<uint64_t>(h * hd + 2 * i + j), hf = static_cast<uint64_t>(h * hd + j * half + i);
        std::memcpy(dst + (to_gguf ? gguf : hf) * row_bytes, src + (to_gguf ? hf : gguf) * row_bytes, row_bytes);
      }
}

std::string gguf_tensor_name(const WeightSpec& s) {
  if (!s.gguf_name.empty()) return s.gguf_name;
  const std::string& c = s.canonical;
  if (c.size() > 5 && c.compare(c.size() - 5, 5, ".bias") == 0) return c;
  return c + ".weight";
}

std::vector<WeightSpec> decoder_common_weights(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, Q = c.q_dim();
  return {
      {"token_embd", "model.embed_tokens.weight", {V, H}, kRequired, "output"},
      {"output_norm", "model.norm.weight", {H}},
      {"output", "lm_head.weight", {V, H}, kRequired, "token_embd"},
      {"blk.{L}.attn_norm", "model.layers.{L}.input_layernorm.weight", {H}, kPerLayer},
      {"blk.{L}.attn_output", "model.layers.{L}.self_attn.o_proj.weight", {H, Q}, kPerLayer},
      {"blk.{L}.ffn_norm", "model.layers.{L}.post_attention_layernorm.weight", {H}, kPerLayer},
      {"blk.{L}.ffn_down", "model.layers.{L}.mlp.down_proj.weight", {H, I}, kPerLayer},
  };
}

std::vector<WeightSpec> llama_style_weight_table(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t Q = c.q_dim(), KV = c.kv_dim();
  std::vector<WeightSpec> t = decoder_common_weights(c);
  t.push_back({"blk.{L}.attn_q", "model.layers.{L}.self_attn.q_proj.weight", {Q, H}, kPerLayer});
  t.push_back({"blk.{L}.attn_k", "model.layers.{L}.self_attn.k_proj.weight", {KV, H}, kPerLayer});
  t.push_back({"blk.{L}.attn_v", "model.layers.{L}.self_attn.v_proj.weight", {KV, H}, kPerLayer});
  t.push_back({"blk.{L}.ffn_gate", "model.layers.{L}.mlp.gate_proj.weight", {I, H}, kPerLayer});
  t.push_back({"blk.{L}.ffn_up", "model.layers.{L}.mlp.up_proj.weight", {I, H}, kPerLayer});
  // Biases are listed only when the config asks for them: like transformers, a stored bias
  // the config does not call for is ignored.
  if (c.qkv_bias) {
    t.push_back({"blk.{L}.attn_q.bias", "model.layers.{L}.self_attn.q_proj.bias", {Q}, kPerLayer});
    t.push_back({"blk.{L}.attn_k.bias", "model.layers.{L}.self_attn.k_proj.bias", {KV}, kPerLayer});
    t.push_back({"blk.{L}.attn_v.bias", "model.layers.{L}.self_attn.v_proj.bias", {KV}, kPerLayer});
  }
  if (c.o_bias) t.push_back({"blk.{L}.attn_output.bias", "model.layers.{L}.self_attn.o_proj.bias", {H}, kPerLayer});
  if (c.mlp_bias) {
    t.push_back({"blk.{L}.ffn_gate.bias", "model.layers.{L}.mlp.gate_proj.bias", {I}, kPerLayer});
    t.push_back({"blk.{L}.ffn_up.bias", "model.layers.{L}.mlp.up_proj.bias", {I}, kPerLayer});
    t.push_back({"blk.{L}.ffn_down.bias", "model.layers.{L}.mlp.down_proj.bias", {H}, kPerLayer});
  }
  return t;
}

namespace {
Tensor get(const TensorMap& t, const std::string& name) {
  auto it = t.find(name);
  return it == t.end() ? Tensor{} : it->second;
}
}  // namespace

void bind_llama_style(const TensorMap& t, const ModelConfig& cfg, ModelWeights& w) {
  w.token_embd = get(t, "token_embd");
  w.output_norm = get(t, "output_norm");
  w.output = get(t, "output");
  w.layers.resize(static_cast<size_t>(cfg.num_layers));
  for (int l = 0; l < cfg.num_layers; ++l) {
    auto n = [&](const char* suffix) { return get(t, "blk." + std::to_string(l) + "." + suffix); };
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    L.attn_norm = n("attn_norm");
    L.ffn_norm = n("ffn_norm");
    L.wo = n("attn_output");
    L.bo = n("attn_output.bias");
    L.w_down = n("ffn_down");
    L.b_down = n("ffn_down.bias");
    // Families with fused projections fill these themselves; the separate names stay empty.
    L.wq = n("attn_q");
    L.wk = n("attn_k");
    L.wv = n("attn_v");
    L.bq = n("attn_q.bias");
    L.bk = n("attn_k.bias");
    L.bv = n("attn_v.bias");
    L.w_gate = n("ffn_gate");
    L.w_up = n("ffn_up");
    L.b_gate = n("ffn_gate.bias");
    L.b_up = n("ffn_up.bias");
  }
}

std::vector<Tensor> canonical_tensor_parts(const ModelWeights& w, const std::string& canonical) {
  auto some = [](std::initializer_list<Tensor> parts) {
    std::vector<Tensor> out;
    for (const Tensor& t : parts)
      if (!t.empty()) out.push_back(t);
    return out;
  };
  if (canonical == "token_embd") return some({w.token_embd});
  if (canonical == "output") return some({w.output});
  if (canonical == "output_norm") return some({w.output_norm});
  if (canonical.rfind("blk.", 0) != 0) return {};
  const size_t dot = canonical.find('.', 4);
  const size_t layer = std::stoul(canonical.substr(4, dot - 4));
  if (layer >= w.layers.size()) return {};
  const LayerWeights& L = w.layers[layer];
  const std::string name = canonical.substr(dot + 1);
  const std::map<std::string, std::vector<Tensor>> by_name = {
      {"attn_norm", some({L.attn_norm})}, {"ffn_norm", some({L.ffn_norm})},
      {"attn_q", some({L.wq})}, {"attn_k", some({L.wk})}, {"attn_v", some({L.wv})}, {"attn_output", some({L.wo})},
      {"attn_q.bias", some({L.bq})}, {"attn_k.bias", some({L.bk})}, {"attn_v.bias", some({L.bv})},
      {"attn_output.bias", some({L.bo})},
      {"attn_qkv", some({L.wq, L.wk, L.wv})}, {"attn_qkv.bias", some({L.bq, L.bk, L.bv})},
      {"ffn_gate", some({L.w_gate})}, {"ffn_up", some({L.w_up})}, {"ffn_down", some({L.w_down})},
      {"ffn_gate.bias", some({L.b_gate})}, {"ffn_up.bias", some({L.b_up})}, {"ffn_down.bias", some({L.b_down})},
      {"ffn_gate_up", some({L.w_gate, L.w_up})},
  };
  auto it = by_name.find(name);
  return it == by_name.end() ? std::vector<Tensor>{} : it->second;
}

}  // namespace wick
