// Qwen2 / Qwen2.5. Reference: transformers/models/qwen2/modeling_qwen2.py — Llama's block with
// biases on q/k/v (not o), tied embeddings at small sizes, and optional sliding-window
// attention on layers >= max_window_layers when use_sliding_window is set.
#include "formats/gguf.h"
#include "models/arch.h"
#include "wick/error.h"

namespace wick {

void parse_qwen_sliding_windows(const JsonFields& f, ModelConfig& cfg) {
  // transformers 5.x Qwen2Config / Qwen3Config: sliding_window counts only with
  // use_sliding_window; layer_types (written by recent transformers) names each layer's kind,
  // and defaults to "sliding_attention" for layers >= max_window_layers.
  const int window = f.bool_or("use_sliding_window", false) ? f.int_or("sliding_window", 0) : 0;
  if (window < 0) f.fail("sliding_window must be positive or null");
  const auto& j = f.json();
  if (j.contains("layer_types") && j["layer_types"].is_array()) {
    const auto& types = j["layer_types"];
    if (types.size() != static_cast<size_t>(cfg.num_layers))
      f.fail("layer_types has " + std::to_string(types.size()) + " entries for " + std::to_string(cfg.num_layers) + " layers");
    for (int l = 0; l < cfg.num_layers; ++l) {
      const auto& t = types[static_cast<size_t>(l)];
      if (!t.is_string() || (t != "sliding_attention" && t != "full_attention"))
        f.fail("layer_types[" + std::to_string(l) + "] must be \"sliding_attention\" or \"full_attention\"");
      cfg.sliding_window[static_cast<size_t>(l)] = t == "sliding_attention" ? window : 0;
    }
    return;
  }
  const int first = f.int_or("max_window_layers", cfg.num_layers);
  for (int l = std::max(first, 0); l < cfg.num_layers; ++l) cfg.sliding_window[static_cast<size_t>(l)] = window;
}

namespace {

void parse_qwen2(const JsonFields& f, ModelConfig& cfg) {
  cfg.qkv_bias = true;
  parse_qwen_sliding_windows(f, cfg);
}

// llama.cpp's qwen2 graph requires the q/k/v biases; a file without them is not a Qwen2 model.
void check_qwen2_gguf(const GgufFile& g, ModelConfig& cfg) {
  if (!cfg.qkv_bias) throw Error(ErrorCode::kNotFound, g.name() + ": qwen2 file without blk.0.attn_q.bias");
}

}  // namespace

const ArchSpec& qwen2_arch() {
  static const ArchSpec spec{
      .model_type = "qwen2",
      .architectures = {"Qwen2ForCausalLM"},
      .parse_config = parse_qwen2,
      .gguf_arch = "qwen2",
      .parse_gguf = check_qwen2_gguf,
  };
  return spec;
}

}  // namespace wick
