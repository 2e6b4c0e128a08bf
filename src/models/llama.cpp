// Llama 2 / 3 / 3.1 / 3.2, TinyLlama, DeepSeek-Math, DeepSeek-Prover-V2-7B.
// Reference: transformers/models/llama/modeling_llama.py (LlamaForCausalLM): pre-norm
// RMSNorm blocks, rotary q/k (rotate_half convention), GQA, SwiGLU MLP.
// attention_bias puts biases on q/k/v/o; mlp_bias on gate/up/down.
#include "models/arch.h"

namespace wick {
namespace {

void parse_llama(const JsonFields& f, ModelConfig& cfg) {
  cfg.qkv_bias = cfg.o_bias = f.bool_or("attention_bias", false);
  cfg.mlp_bias = f.bool_or("mlp_bias", false);
}

}  // namespace

const ArchSpec& llama_arch() {
  static const ArchSpec spec{
      .model_type = "llama",
      .architectures = {"LlamaForCausalLM"},
      .parse_config = parse_llama,
      .gguf_arch = "llama",
      .gguf_permutes_qk = true,
  };
  return spec;
}

}  // namespace wick
