// Qwen2 / Qwen2.5. Reference: transformers/models/qwen2/modeling_qwen2.py — Llama's block with
// biases on q/k/v (not o), tied embeddings at small sizes, and optional sliding-window
// attention on layers >= max_window_layers when use_sliding_window is set.
#include "models/arch.h"

namespace wick {
namespace {

void parse_qwen2(const JsonFields& f, ModelConfig& cfg) {
  cfg.qkv_bias = true;
  if (f.bool_or("use_sliding_window", false)) {
    const int window = f.int_or("sliding_window", 0);
    const int first = f.int_or("max_window_layers", cfg.num_layers);
    for (int l = first; l < cfg.num_layers; ++l) cfg.sliding_window[static_cast<size_t>(l)] = window;
  }
}

}  // namespace

const ArchSpec& qwen2_arch() {
  static const ArchSpec spec{"qwen2", {"Qwen2ForCausalLM"}, parse_qwen2, llama_style_weight_table, bind_llama_style, "qwen2"};
  return spec;
}

}  // namespace wick
