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

const std::vector<const ArchSpec*>& registered_archs() {
  // Order matters only for GGUF: "llama" files are read by llama_arch, not mistral_arch.
  static const std::vector<const ArchSpec*> all = {&llama_arch(), &mistral_arch(), &qwen2_arch(),   &qwen3_arch(),
                                                   &phi3_arch(),  &gemma2_arch(),  &stablelm_arch()};
  return all;
}

std::string supported_model_types() {
  std::string out;
  for (const ArchSpec* a : registered_archs()) out += (out.empty() ? "" : ", ") + std::string(a->model_type);
  return out;
}

std::string supported_gguf_archs() {
  std::vector<std::string> names;
  for (const ArchSpec* a : registered_archs())
    if (a->gguf_arch && std::find(names.begin(), names.end(), a->gguf_arch) == names.end()) names.emplace_back(a->gguf_arch);
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

const ArchSpec* arch_by_model_type(const std::string& model_type) {
  for (const ArchSpec* a : registered_archs())
    if (model_type == a->model_type) return a;
  return nullptr;
}

const ArchSpec& find_arch(const std::string& model_type, const std::vector<std::string>& architectures, const std::string& config_path) {
  if (const ArchSpec* a = arch_by_model_type(model_type)) return *a;
  if (model_type.empty())
    for (const ArchSpec* a : registered_archs())
      for (const auto& name : architectures)
        if (std::find(a->architectures.begin(), a->architectures.end(), name) != a->architectures.end()) return *a;
  std::string arch_list;
  for (const auto& n : architectures) arch_list += (arch_list.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::kUnsupported, config_path + ": model_type \"" + model_type + "\"" +
                                           (arch_list.empty() ? "" : " (architectures: " + arch_list + ")") +
                                           " is not supported; supported: " + supported_model_types());
}

const ArchSpec& find_gguf_arch(const std::string& gguf_arch, const std::string& file) {
  for (const ArchSpec* a : registered_archs())
    if (a->gguf_arch && gguf_arch == a->gguf_arch) return *a;
  throw Error(ErrorCode::kUnsupported,
              file + ": general.architecture \"" + gguf_arch + "\" is not supported; supported: " + supported_gguf_archs());
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
      {.canonical = "token_embd", .hf_name = "model.embed_tokens.weight", .shape = {V, H}, .tied_with = "output"},
      {.canonical = "output_norm", .hf_name = "model.norm.weight", .shape = {H}},
      {.canonical = "output", .hf_name = "lm_head.weight", .shape = {V, H}, .tied_with = "token_embd"},
      {.canonical = "blk.{L}.attn_norm", .hf_name = "model.layers.{L}.input_layernorm.weight", .shape = {H}, .flags = kPerLayer},
      {.canonical = "blk.{L}.attn_output", .hf_name = "model.layers.{L}.self_attn.o_proj.weight", .shape = {H, Q}, .flags = kPerLayer},
      {.canonical = "blk.{L}.ffn_norm", .hf_name = "model.layers.{L}.post_attention_layernorm.weight", .shape = {H}, .flags = kPerLayer},
      {.canonical = "blk.{L}.ffn_down", .hf_name = "model.layers.{L}.mlp.down_proj.weight", .shape = {H, I}, .flags = kPerLayer},
  };
}

std::vector<WeightSpec> llama_style_weight_table(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  const int64_t Q = c.q_dim(), KV = c.kv_dim();
  std::vector<WeightSpec> t = decoder_common_weights(c);
  auto layer = [&](const char* canonical, const char* hf_name, std::vector<int64_t> shape) {
    t.push_back({.canonical = canonical, .hf_name = hf_name, .shape = std::move(shape), .flags = kPerLayer});
  };
  layer("blk.{L}.attn_q", "model.layers.{L}.self_attn.q_proj.weight", {Q, H});
  layer("blk.{L}.attn_k", "model.layers.{L}.self_attn.k_proj.weight", {KV, H});
  layer("blk.{L}.attn_v", "model.layers.{L}.self_attn.v_proj.weight", {KV, H});
  layer("blk.{L}.ffn_gate", "model.layers.{L}.mlp.gate_proj.weight", {I, H});
  layer("blk.{L}.ffn_up", "model.layers.{L}.mlp.up_proj.weight", {I, H});
  // Biases are listed only when the config asks for them: like transformers, a stored bias
  // the config does not call for is ignored.
  if (c.qkv_bias) {
    layer("blk.{L}.attn_q.bias", "model.layers.{L}.self_attn.q_proj.bias", {Q});
    layer("blk.{L}.attn_k.bias", "model.layers.{L}.self_attn.k_proj.bias", {KV});
    layer("blk.{L}.attn_v.bias", "model.layers.{L}.self_attn.v_proj.bias", {KV});
  }
  if (c.o_bias) layer("blk.{L}.attn_output.bias", "model.layers.{L}.self_attn.o_proj.bias", {H});
  if (c.mlp_bias) {
    layer("blk.{L}.ffn_gate.bias", "model.layers.{L}.mlp.gate_proj.bias", {I});
    layer("blk.{L}.ffn_up.bias", "model.layers.{L}.mlp.up_proj.bias", {I});
    layer("blk.{L}.ffn_down.bias", "model.layers.{L}.mlp.down_proj.bias", {H});
  }
  if (c.qk_norm) {  // one RMSNorm weight per head dimension, shared by all heads (Qwen3RMSNorm(head_dim))
    layer("blk.{L}.attn_q_norm", "model.layers.{L}.self_attn.q_norm.weight", {D});
    layer("blk.{L}.attn_k_norm", "model.layers.{L}.self_attn.k_norm.weight", {D});
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
  w.output_norm_b = get(t, "output_norm.bias");
  w.output = get(t, "output");
  w.layers.resize(static_cast<size_t>(cfg.num_layers));
  for (int l = 0; l < cfg.num_layers; ++l) {
    auto n = [&](const char* suffix) { return get(t, "blk." + std::to_string(l) + "." + suffix); };
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    L.attn_norm = n("attn_norm");
    L.ffn_norm = n("ffn_norm");
    L.attn_post_norm = n("attn_post_norm");
    L.attn_norm_b = n("attn_norm.bias");
    L.ffn_norm_b = n("ffn_norm.bias");
    L.ffn_post_norm = n("ffn_post_norm");
    L.q_norm = n("attn_q_norm");
    L.k_norm = n("attn_k_norm");
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
  if (canonical == "output_norm.bias") return some({w.output_norm_b});
  if (canonical.rfind("blk.", 0) != 0) return {};
  const size_t dot = canonical.find('.', 4);
  const size_t layer = std::stoul(canonical.substr(4, dot - 4));
  if (layer >= w.layers.size()) return {};
  const LayerWeights& L = w.layers[layer];
  const std::string name = canonical.substr(dot + 1);
  const std::map<std::string, std::vector<Tensor>> by_name = {
      {"attn_norm", some({L.attn_norm})},
      {"ffn_norm", some({L.ffn_norm})},
      {"attn_post_norm", some({L.attn_post_norm})},
      {"attn_norm.bias", some({L.attn_norm_b})},
      {"ffn_norm.bias", some({L.ffn_norm_b})},
      {"ffn_post_norm", some({L.ffn_post_norm})},
      {"attn_q_norm", some({L.q_norm})},
      {"attn_k_norm", some({L.k_norm})},
      {"attn_q", some({L.wq})},
      {"attn_k", some({L.wk})},
      {"attn_v", some({L.wv})},
      {"attn_output", some({L.wo})},
      {"attn_q.bias", some({L.bq})},
      {"attn_k.bias", some({L.bk})},
      {"attn_v.bias", some({L.bv})},
      {"attn_output.bias", some({L.bo})},
      {"attn_qkv", some({L.wq, L.wk, L.wv})},
      {"attn_qkv.bias", some({L.bq, L.bk, L.bv})},
      {"ffn_gate", some({L.w_gate})},
      {"ffn_up", some({L.w_up})},
      {"ffn_down", some({L.w_down})},
      {"ffn_gate.bias", some({L.b_gate})},
      {"ffn_up.bias", some({L.b_up})},
      {"ffn_down.bias", some({L.b_down})},
      {"ffn_gate_up", some({L.w_gate, L.w_up})},
  };
  auto it = by_name.find(name);
  return it == by_name.end() ? std::vector<Tensor>{} : it->second;
}

}  // namespace wick
