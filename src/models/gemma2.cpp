// Gemma 2 (2B, 9B, 27B). Reference: transformers/models/gemma2/modeling_gemma2.py
// (Gemma2ForCausalLM). Llama's block with:
//   - token embeddings scaled by sqrt(hidden_size) (Gemma2TextScaledWordEmbedding);
//   - RMSNorms that scale by (1 + weight) (Gemma2RMSNorm stores weight - 1);
//   - four norms per layer: input, post-attention (on the attention output, before the residual
//     add), pre-feedforward and post-feedforward (Gemma2DecoderLayer.forward);
//   - softmax scale query_pre_attn_scalar^-0.5 and attention logits soft-capped at
//     attn_logit_softcapping; final logits soft-capped at final_logit_softcapping;
//   - a GeGLU MLP (hidden_activation, gelu_pytorch_tanh), tied embeddings, head_dim 256 by default;
//   - sliding-window attention on alternate layers (layer_types; by default layers 0, 2, 4, ...).
// Read from Hugging Face directories; llama.cpp's "gemma2" GGUF files (which store the norms as
// 1 + weight and fold the query scale differently per size) are not read yet.
#include <cmath>

#include "models/arch.h"
#include "wick/error.h"

namespace wick {
namespace {

// A float field that may be null (Gemma2Config: null turns the feature off) or absent (the default).
float nullable_number(const JsonFields& f, const char* key, double fallback) {
  if (f.json().contains(key) && f.json()[key].is_null()) return 0;
  const double v = f.number_or(key, fallback);
  if (!(v > 0)) f.fail(std::string(key) + " must be positive or null");
  return static_cast<float>(v);
}

void parse_gemma2(const JsonFields& f, ModelConfig& cfg) {
  cfg.qkv_bias = cfg.o_bias = f.bool_or("attention_bias", false);
  cfg.tie_word_embeddings = f.bool_or("tie_word_embeddings", true);  // Gemma2Config's default
  // Gemma2MLP reads hidden_activation (a hidden_act key, if any, is not used).
  const std::string act = f.string_or("hidden_activation", "gelu_pytorch_tanh");
  const auto a = activation_from_name(act);
  if (!a || *a == Activation::kRelu) f.fail("hidden_activation \"" + act + "\" is not supported (gelu_pytorch_tanh, gelu, silu)");
  cfg.hidden_act = *a;
  cfg.embedding_scale = std::sqrt(static_cast<float>(cfg.hidden_size));
  cfg.norm_weight_offset = 1;
  cfg.post_norms = true;
  const double scalar = f.number_or("query_pre_attn_scalar", 256);
  if (!(scalar > 0)) f.fail("query_pre_attn_scalar must be positive");
  cfg.query_scale = static_cast<float>(1.0 / std::sqrt(scalar));
  cfg.attn_softcap = nullable_number(f, "attn_logit_softcapping", 50.0);
  cfg.final_softcap = nullable_number(f, "final_logit_softcapping", 30.0);
  // Sliding windows: layer_types, or Gemma2Config's default of every other layer from layer 0.
  const bool null_window = f.json().contains("sliding_window") && f.json()["sliding_window"].is_null();
  const int window = null_window ? 0 : f.int_or("sliding_window", 4096);
  if (window < 0) f.fail("sliding_window must be positive or null");
  std::vector<std::string> types;
  if (f.has("layer_types")) {
    for (const auto& t : f.json()["layer_types"]) {
      if (!t.is_string()) f.fail("layer_types must be a list of strings");
      types.push_back(t.get<std::string>());
    }
    if (static_cast<int>(types.size()) != cfg.num_layers)
      f.fail("layer_types has " + std::to_string(types.size()) + " entries for " + std::to_string(cfg.num_layers) + " layers");
  }
  for (int l = 0; l < cfg.num_layers; ++l) {
    const std::string type = types.empty() ? ((l + 1) % 2 ? "sliding_attention" : "full_attention") : types[static_cast<size_t>(l)];
    if (type != "sliding_attention" && type != "full_attention") f.fail("unknown layer type \"" + type + "\"");
    cfg.sliding_window[static_cast<size_t>(l)] = type == "sliding_attention" ? window : 0;
  }
}

std::vector<WeightSpec> gemma2_weight_table(const ModelConfig& c) {
  std::vector<WeightSpec> t = llama_style_weight_table(c);
  const int64_t H = c.hidden_size;
  for (WeightSpec& s : t)  // Llama's post_attention_layernorm is the MLP's input norm; Gemma 2 names that one pre_feedforward
    if (s.canonical == "blk.{L}.ffn_norm") s.hf_name = "model.layers.{L}.pre_feedforward_layernorm.weight";
  t.push_back({.canonical = "blk.{L}.attn_post_norm",
               .hf_name = "model.layers.{L}.post_attention_layernorm.weight",
               .shape = {H},
               .flags = kPerLayer,
               .gguf_name = "blk.{L}.post_attention_norm.weight"});
  t.push_back({.canonical = "blk.{L}.ffn_post_norm",
               .hf_name = "model.layers.{L}.post_feedforward_layernorm.weight",
               .shape = {H},
               .flags = kPerLayer,
               .gguf_name = "blk.{L}.post_ffw_norm.weight"});
  return t;
}

}  // namespace

const ArchSpec& gemma2_arch() {
  static const ArchSpec spec{
      .model_type = "gemma2",
      .architectures = {"Gemma2ForCausalLM"},
      .parse_config = parse_gemma2,
      .weight_table = gemma2_weight_table,
      .gguf_arch = nullptr,
      .default_head_dim = 256,  // Gemma2Config.head_dim
  };
  return spec;
}

}  // namespace wick
