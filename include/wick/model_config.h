// The architecture hyper-parameters of a model, read from Hugging Face config.json
// (or, later, GGUF metadata). Field names follow transformers' LlamaConfig.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace wick {

// transformers/modeling_rope_utils.py: ROPE_INIT_FUNCTIONS ("su" is the old name of longrope).
enum class RopeType { kDefault, kLinear, kDynamic, kYarn, kLlama3, kLongRope };
const char* rope_type_name(RopeType t);

struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;
  int original_max_position_embeddings = 0;  // 0: not given
  double low_freq_factor = 1.0;              // llama3
  double high_freq_factor = 4.0;             // llama3
  double beta_fast = 32.0;                   // yarn
  double beta_slow = 1.0;                    // yarn
  std::optional<double> mscale;              // yarn (DeepSeek style)
  std::optional<double> mscale_all_dim;      // yarn (DeepSeek style)
  bool truncate = true;                      // yarn: floor/ceil the correction range
  std::optional<double> attention_factor;    // yarn / longrope override
  std::vector<double> short_factor;          // longrope, head_dim/2 entries
  std::vector<double> long_factor;           // longrope, head_dim/2 entries
  // llama3 read from a GGUF file: llama.cpp's rope_freqs tensor, head_dim/2 divisors of the
  // default frequencies (in place of factor / low / high_freq_factor).
  std::vector<double> freq_factors;
};

// Elementwise activations: of the MLP's gate (config.json hidden_act) and of MLP heads (the
// energy head). transformers' ACT2FN: silu, relu, gelu (exact erf form) and gelu_pytorch_tanh.
enum class Activation { kSilu, kRelu, kGelu, kGeluTanh };
const char* activation_name(Activation a);
// transformers' ACT2FN names: "silu"/"swish", "relu", "gelu", "gelu_pytorch_tanh"/"gelu_new"
// (the tanh approximation); nullopt for any other.
std::optional<Activation> activation_from_name(const std::string& name);

struct ModelConfig {
  std::string model_type;    // "llama", "mistral", "qwen2", "phi3", "qwen3"
  std::string architecture;  // "LlamaForCausalLM", ...
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // explicit in config or hidden_size / num_heads
  int max_position_embeddings = 0;
  int original_max_position_embeddings = 0;  // phi3 (top level), for longrope
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;            // q/k/v projections have biases (qwen2, llama attention_bias)
  bool o_bias = false;              // o_proj has a bias (llama attention_bias)
  bool mlp_bias = false;            // gate/up/down have biases (llama mlp_bias)
  std::vector<int> sliding_window;  // per layer; 0 = full causal attention
  // Layer shape: the per-layer features a family declares (its parse_config sets them); the
  // shared forward pass (models/transformer.cpp) reads these flags instead of the family name.
  bool qk_norm = false;                       // RMSNorm of each query and key head (weights [head_dim]) before rope (qwen3)
  Activation hidden_act = Activation::kSilu;  // the MLP's act(gate) * up
  // Gemma 2 (transformers' modeling_gemma2.py); 0 / false = Llama's behaviour:
  float embedding_scale = 0;     // > 0: token embeddings times this (sqrt(hidden_size))
  float norm_weight_offset = 0;  // every RMSNorm scales by (offset + weight): Gemma stores weight - 1
  bool post_norms = false;       // RMSNorm of the attention and MLP outputs before each residual add
  float query_scale = 0;         // > 0: the softmax scale instead of 1/sqrt(head_dim) (query_pre_attn_scalar^-0.5)
  float attn_softcap = 0;        // > 0: attention scores -> cap * tanh(score / cap) (attn_logit_softcapping)
  float final_softcap = 0;       // > 0: logits -> cap * tanh(logit / cap) (final_logit_softcapping)
  // StableLM 2:
  int rotary_dim = 0;       // > 0: rotary embedding on the first rotary_dim values of each head only (partial_rotary_factor)
  bool layer_norm = false;  // nn.LayerNorm (mean, biased variance, weight and bias; eps rms_norm_eps) instead of RMSNorm
  std::string torch_dtype;  // as declared ("float32", "bfloat16", ...), informational
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;

  // The longest sequence the model supports (prompt + generated tokens).
  int max_context() const;
  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  int rope_dims() const { return rotary_dim > 0 ? rotary_dim : head_dim; }  // the rotated part of each head
};

}  // namespace wick
