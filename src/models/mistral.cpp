// Mistral 7B. Reference: transformers/models/mistral/modeling_mistral.py — Llama's block with
// sliding-window attention: a query at position i sees keys j with i - sliding_window < j <= i
// (sliding_window null in v0.2+ means full attention). No biases.
#include "models/arch.h"

namespace wick {
namespace {

void parse_mistral(const JsonFields& f, ModelConfig& cfg) {
  const int window = f.int_or("sliding_window", 0);
  if (window < 0) f.fail("sliding_window must be positive or null");
  cfg.sliding_window.assign(static_cast<size_t>(cfg.num_layers), window);
}

}  // namespace

const ArchSpec& mistral_arch() {
  // Its GGUF files are "llama" files (llama.cpp's converter), read back by llama_arch.
  static const ArchSpec spec{
      .model_type = "mistral",
      .architectures = {"MistralForCausalLM"},
      .parse_config = parse_mistral,
      .gguf_arch = "llama",
      .gguf_permutes_qk = true,
  };
  return spec;
}

}  // namespace wick
