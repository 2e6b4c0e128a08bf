#include "formats/hf_config.h"

#include <filesystem>

#include "wick/error.h"

namespace wick {

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::kDefault: return "default";
    case RopeType::kLinear: return "linear";
    case RopeType::kDynamic: return "dynamic";
    case RopeType::kYarn: return "yarn";
    case RopeType::kLlama3: return "llama3";
    case RopeType::kLongRope: return "longrope";
  }
  return "?";
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::kSilu: return "silu";
    case Activation::kRelu: return "relu";
    case Activation::kGelu: return "gelu";
    case Activation::kGeluTanh: return "gelu_pytorch_tanh";
  }
  return "?";
}

std::optional<Activation> activation_from_name(const std::string& name) {
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return Activation::kGeluTanh;
  return std::nullopt;
}

int ModelConfig::max_context() const {
  // Dynamic NTK scaling exists to run past max_position_embeddings: transformers grows the
  // rope base with the sequence length, so the usable length is factor times longer.
  if (rope.type == RopeType::kDynamic) return static_cast<int>(max_position_embeddings * rope.factor);
  return max_position_embeddings;
}

void parse_common_config(const JsonFields& f, ModelConfig& cfg, int default_head_dim) {
  cfg.vocab_size = f.positive_int("vocab_size");
  cfg.hidden_size = f.positive_int("hidden_size");
  cfg.intermediate_size = f.positive_int("intermediate_size");
  cfg.num_layers = f.positive_int("num_hidden_layers");
  if (cfg.num_layers > 65536) f.fail("num_hidden_layers " + std::to_string(cfg.num_layers) + " is absurd");
  cfg.num_heads = f.positive_int("num_attention_heads");
  cfg.num_kv_heads = f.has("num_key_value_heads") ? f.positive_int("num_key_value_heads") : cfg.num_heads;
  if (cfg.num_heads % cfg.num_kv_heads != 0)
    f.fail("num_attention_heads (" + std::to_string(cfg.num_heads) + ") is not a multiple of num_key_value_heads (" +
           std::to_string(cfg.num_kv_heads) + ")");
  if (f.has("head_dim")) {
    cfg.head_dim = f.positive_int("head_dim");
  } else if (default_head_dim > 0) {
    cfg.head_dim = default_head_dim;
  } else {
    if (cfg.hidden_size % cfg.num_heads != 0)
      f.fail("hidden_size (" + std::to_string(cfg.hidden_size) + ") is not a multiple of num_attention_heads (" +
             std::to_string(cfg.num_heads) + ") and no head_dim is given");
    cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  }
  if (cfg.head_dim % 2 != 0) f.fail("head_dim " + std::to_string(cfg.head_dim) + " is odd; rotary embeddings need an even size");
  cfg.max_position_embeddings = f.positive_int("max_position_embeddings");
  cfg.rms_norm_eps = f.number_or("rms_norm_eps", 1e-6);
  if (!(cfg.rms_norm_eps > 0)) f.fail("rms_norm_eps must be positive");
  cfg.rope_theta = f.number_or("rope_theta", 10000.0);
  if (!(cfg.rope_theta > 1)) f.fail("rope_theta must be greater than 1");
  cfg.tie_word_embeddings = f.bool_or("tie_word_embeddings", false);
  cfg.torch_dtype = f.string_or("torch_dtype", f.string_or("dtype", ""));
  const std::string act = f.string_or("hidden_act", "silu");
  const auto hidden_act = activation_from_name(act);
  if (!hidden_act || *hidden_act == Activation::kRelu)  // ReLU MLPs are not gated in transformers' families
    throw Error(ErrorCode::kUnsupported,
                f.file() + ": hidden_act \"" + act + "\" is not supported (silu, gelu, gelu_pytorch_tanh, gelu_new)");
  cfg.hidden_act = *hidden_act;
  cfg.bos_token_id = f.int_or("bos_token_id", -1);
  cfg.eos_token_ids = f.int_list("eos_token_id");
  cfg.sliding_window.assign(static_cast<size_t>(cfg.num_layers), 0);
  parse_rope_scaling(f, cfg);
}

void parse_rope_scaling(const JsonFields& f, ModelConfig& cfg) {
  if (!f.has("rope_scaling")) return;
  const auto& rs = f.json()["rope_scaling"];
  if (!rs.is_object()) f.fail("rope_scaling must be null or an object, got " + rs.dump());
  JsonFields r(rs, f.file() + " (rope_scaling)");
  const std::string type = r.string_or("rope_type", r.string_or("type", ""));
  RopeScaling& s = cfg.rope;
  if (type == "default" || type.empty())
    s.type = RopeType::kDefault;
  else if (type == "linear")
    s.type = RopeType::kLinear;
  else if (type == "dynamic")
    s.type = RopeType::kDynamic;
  else if (type == "yarn")
    s.type = RopeType::kYarn;
  else if (type == "llama3")
    s.type = RopeType::kLlama3;
  else if (type == "longrope" || type == "su")
    s.type = RopeType::kLongRope;
  else
    throw Error(ErrorCode::kUnsupported, f.file() + ": rope_scaling type \"" + type +
                                             "\" is not supported "
                                             "(supported: linear, dynamic, yarn, llama3, longrope/su)");
  s.factor = r.number_or("factor", 1.0);
  s.original_max_position_embeddings = r.int_or("original_max_position_embeddings", 0);
  s.low_freq_factor = r.number_or("low_freq_factor", 1.0);
  s.high_freq_factor = r.number_or("high_freq_factor", 4.0);
  s.beta_fast = r.number_or("beta_fast", 32.0);
  s.beta_slow = r.number_or("beta_slow", 1.0);
  if (r.has("mscale")) s.mscale = r.number_or("mscale", 0);
  if (r.has("mscale_all_dim")) s.mscale_all_dim = r.number_or("mscale_all_dim", 0);
  s.truncate = r.bool_or("truncate", true);
  if (r.has("attention_factor")) s.attention_factor = r.number_or("attention_factor", 1.0);
  // YaRN: the config's factor is used when given; only a missing (or null) one is derived as
  // max_position_embeddings / original_max_position_embeddings (DeepSeek-V3 style). transformers
  // 5.x _compute_yarn_parameters: `if factor is None: factor = max_pos / original_max_pos`.
  if (s.type == RopeType::kYarn && !r.has("factor") && s.original_max_position_embeddings > 0)
    s.factor = static_cast<double>(cfg.max_position_embeddings) / s.original_max_position_embeddings;
  const bool needs_factor =
      s.type == RopeType::kLinear || s.type == RopeType::kDynamic || s.type == RopeType::kLlama3 || s.type == RopeType::kYarn;
  if (needs_factor && !(s.factor > 0)) r.fail("\"factor\" must be a positive number for rope type " + type);
  if (s.type == RopeType::kLlama3) {
    if (s.original_max_position_embeddings <= 0) r.fail("llama3 scaling needs original_max_position_embeddings");
    if (!(s.high_freq_factor > s.low_freq_factor)) r.fail("llama3 scaling needs high_freq_factor > low_freq_factor");
  }
  if (s.type == RopeType::kLongRope) {
    const size_t half = static_cast<size_t>(cfg.head_dim / 2);
    auto factors = [&](const char* key) {
      std::vector<double> v;
      if (!rs.contains(key) || !rs[key].is_array()) r.fail(std::string("longrope needs a \"") + key + "\" list");
      for (const auto& x : rs[key]) {
        if (!x.is_number()) r.fail(std::string("\"") + key + "\" must hold numbers");
        v.push_back(x.get<double>());
      }
      if (v.size() != half)
        r.fail(std::string("\"") + key + "\" has " + std::to_string(v.size()) + " entries, expected head_dim/2 = " + std::to_string(half));
      return v;
    };
    s.short_factor = factors("short_factor");
    s.long_factor = factors("long_factor");
  }
}

void apply_generation_config(const std::string& path, ModelConfig& cfg) {
  if (!std::filesystem::exists(path)) return;
  const auto j = read_json_file(path);
  if (!j.is_object()) throw Error(ErrorCode::kCorruptFile, path + ": not a JSON object");
  JsonFields f(j, path);
  if (f.has("bos_token_id")) cfg.bos_token_id = f.int_or("bos_token_id", cfg.bos_token_id);
  if (f.has("eos_token_id")) cfg.eos_token_ids = f.int_list("eos_token_id");
}

}  // namespace wick
