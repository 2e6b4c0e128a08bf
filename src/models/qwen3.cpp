// Qwen3 (dense: 0.6B ... 32B). Reference: transformers/models/qwen3/modeling_qwen3.py — Llama's
// block with an RMSNorm over each query and key head (q_norm / k_norm, weights [head_dim],
// applied after the projection and before rope: Qwen3Attention.forward), an explicit head_dim
// (128 when the config omits it, Qwen3Config's default), q/k/v/o biases only with
// attention_bias, and Qwen2's sliding-window rules. GGUF: llama.cpp's "qwen3" architecture,
// tensors blk.N.attn_q_norm / attn_k_norm, NEOX rope (no q/k row reorder).
#include "formats/gguf.h"
#include "models/arch.h"

namespace wick {
namespace {

void parse_qwen3(const JsonFields& f, ModelConfig& cfg) {
  cfg.qk_norm = true;
  cfg.qkv_bias = cfg.o_bias = f.bool_or("attention_bias", false);
  parse_qwen_sliding_windows(f, cfg);
}

void parse_qwen3_gguf(const GgufFile&, ModelConfig& cfg) { cfg.qk_norm = true; }

}  // namespace

const ArchSpec& qwen3_arch() {
  static const ArchSpec spec{
      .model_type = "qwen3",
      .architectures = {"Qwen3ForCausalLM"},
      .parse_config = parse_qwen3,
      .gguf_arch = "qwen3",
      .parse_gguf = parse_qwen3_gguf,
      .default_head_dim = 128,  // Qwen3Config.head_dim
  };
  return spec;
}

}  // namespace wick
