// StableLM 2 (1.6B, 12B; Zephyr, StableCode). Reference: transformers/models/stablelm/
// modeling_stablelm.py (StableLmForCausalLM). Llama's block with:
//   - nn.LayerNorm (weight and bias, layer_norm_eps) in place of RMSNorm, before attention, before
//     the MLP and at the end;
//   - partial rotary: rope on the first head_dim * partial_rotary_factor values of each query and
//     key head (0.25 by default), the rest unrotated (StableLmAttention.forward);
//   - q/k/v biases with use_qkv_bias; head_dim always hidden_size / num_attention_heads.
// Not read: the parallel-residual and per-head q/k LayerNorm variants (use_parallel_residual,
// qk_layernorm: StableLM-2-12B), which are refused by name; GGUF ("stablelm") not yet.
#include "models/arch.h"

namespace wick {
namespace {

void parse_stablelm(const JsonFields& f, ModelConfig& cfg) {
  if (f.bool_or("use_parallel_residual", false)) f.fail("use_parallel_residual (a parallel attention/MLP block) is not supported");
  if (f.bool_or("qk_layernorm", false)) f.fail("qk_layernorm (per-head q/k LayerNorms) is not supported");
  cfg.qkv_bias = f.bool_or("use_qkv_bias", false);
  cfg.layer_norm = true;
  cfg.rms_norm_eps = f.number_or("layer_norm_eps", 1e-5);
  if (!(cfg.rms_norm_eps > 0)) f.fail("layer_norm_eps must be positive");
  if (cfg.hidden_size % cfg.num_heads != 0) f.fail("hidden_size is not a multiple of num_attention_heads");
  cfg.head_dim = cfg.hidden_size / cfg.num_heads;                    // StableLmAttention ignores a head_dim key
  const double factor = f.number_or("partial_rotary_factor", 0.25);  // StableLmConfig's default
  const int rot = static_cast<int>(cfg.head_dim * factor);           // int(head_dim * factor), as transformers
  if (!(factor > 0 && factor <= 1) || rot < 2 || rot % 2 != 0)
    f.fail("partial_rotary_factor " + std::to_string(factor) + " gives " + std::to_string(rot) + " rotary dims of a " +
           std::to_string(cfg.head_dim) + "-wide head (need an even number >= 2)");
  cfg.rotary_dim = rot == cfg.head_dim ? 0 : rot;
}

std::vector<WeightSpec> stablelm_weight_table(const ModelConfig& c) {
  std::vector<WeightSpec> t = llama_style_weight_table(c);
  const int64_t H = c.hidden_size;
  t.push_back({.canonical = "output_norm.bias", .hf_name = "model.norm.bias", .shape = {H}});
  t.push_back(
      {.canonical = "blk.{L}.attn_norm.bias", .hf_name = "model.layers.{L}.input_layernorm.bias", .shape = {H}, .flags = kPerLayer});
  t.push_back({.canonical = "blk.{L}.ffn_norm.bias",
               .hf_name = "model.layers.{L}.post_attention_layernorm.bias",
               .shape = {H},
               .flags = kPerLayer});
  return t;
}

}  // namespace

const ArchSpec& stablelm_arch() {
  static const ArchSpec spec{
      .model_type = "stablelm",
      .architectures = {"StableLmForCausalLM"},
      .parse_config = parse_stablelm,
      .weight_table = stablelm_weight_table,
      .gguf_arch = nullptr,
  };
  return spec;
}

}  // namespace wick
