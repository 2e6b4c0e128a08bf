// Phi-3 (mini / small-context and 128k). Reference: transformers/models/phi3/modeling_phi3.py —
// Llama's block with a fused qkv_proj ([q_dim + 2 kv_dim, hidden]: q rows, then k, then v) and a
// fused gate_up_proj ([2 inter, hidden]: gate rows, then up), sliding-window attention, and
// longrope ("su") scaling whose short/long factors are picked by sequence length.
#include "models/arch.h"

namespace wick {
namespace {

void parse_phi3(const JsonFields& f, ModelConfig& cfg) {
  const int window = f.int_or("sliding_window", 0);
  if (window < 0) f.fail("sliding_window must be positive or null");
  cfg.sliding_window.assign(static_cast<size_t>(cfg.num_layers), window);
  cfg.original_max_position_embeddings = f.int_or("original_max_position_embeddings", 0);
  cfg.qkv_bias = cfg.o_bias = f.bool_or("attention_bias", false);
}

std::vector<WeightSpec> phi3_table(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t Q = c.q_dim(), KV = c.kv_dim();
  std::vector<WeightSpec> t = decoder_common_weights(c);
  t.push_back({.canonical = "blk.{L}.attn_qkv",
               .hf_name = "model.layers.{L}.self_attn.qkv_proj.weight",
               .shape = {Q + 2 * KV, H},
               .flags = kPerLayer});
  // GGUF keeps the fused matrix under llama.cpp's ffn_up name (its phi3 graph splits it).
  t.push_back({.canonical = "blk.{L}.ffn_gate_up",
               .hf_name = "model.layers.{L}.mlp.gate_up_proj.weight",
               .shape = {2 * I, H},
               .flags = kPerLayer,
               .gguf_name = "blk.{L}.ffn_up.weight"});
  if (c.qkv_bias) {  // attention_bias: transformers' Phi3Attention puts it on qkv_proj and o_proj
    t.push_back({.canonical = "blk.{L}.attn_qkv.bias",
                 .hf_name = "model.layers.{L}.self_attn.qkv_proj.bias",
                 .shape = {Q + 2 * KV},
                 .flags = kPerLayer});
    t.push_back(
        {.canonical = "blk.{L}.attn_output.bias", .hf_name = "model.layers.{L}.self_attn.o_proj.bias", .shape = {H}, .flags = kPerLayer});
  }
  return t;
}

void bind_phi3(const TensorMap& t, const ModelConfig& c, ModelWeights& w) {
  bind_llama_style(t, c, w);
  const int64_t Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    const Tensor& qkv = t.at(p + "attn_qkv");
    L.wq = qkv.row_slice(0, Q);
    L.wk = qkv.row_slice(Q, KV);
    L.wv = qkv.row_slice(Q + KV, KV);
    if (auto b = t.find(p + "attn_qkv.bias"); b != t.end()) {
      L.bq = b->second.vector_slice(0, Q);
      L.bk = b->second.vector_slice(Q, KV);
      L.bv = b->second.vector_slice(Q + KV, KV);
    }
    const Tensor& gate_up = t.at(p + "ffn_gate_up");
    L.w_gate = gate_up.row_slice(0, I);
    L.w_up = gate_up.row_slice(I, I);
  }
}

}  // namespace

const ArchSpec& phi3_arch() {
  static const ArchSpec spec{
      .model_type = "phi3",
      .architectures = {"Phi3ForCausalLM"},
      .parse_config = parse_phi3,
      .weight_table = phi3_table,
      .bind = bind_phi3,
      .gguf_arch = "phi3",
  };
  return spec;
}

}  // namespace wick
