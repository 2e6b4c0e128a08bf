// config.json and weight-table errors: unsupported model_type, malformed or incomplete config,
// missing tensors, wrong shapes and dtypes — each names the file, the tensor and the values.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "models/model.h"
#include "test_util.h"
#include "wick/error.h"

namespace wick::test {
namespace {

using nlohmann::json;

json tiny_config() {
  return json{{"model_type", "llama"},
              {"architectures", {"LlamaForCausalLM"}},
              {"hidden_size", 16},
              {"intermediate_size", 32},
              {"num_hidden_layers", 1},
              {"num_attention_heads", 2},
              {"num_key_value_heads", 1},
              {"vocab_size", 10},
              {"max_position_embeddings", 32},
              {"eos_token_id", 2},
              {"tie_word_embeddings", false}};
}

// Writes config.json and weights that exactly fit the llama table, minus `drop`, with `tweak`.
void write_model(const TempDir& d, const json& cfg, const std::string& drop = "",
                 const std::function<void(std::vector<TensorToWrite>&)>& tweak = {}) {
  write_file(d.file("config.json"), cfg.dump());
  const ArchSpec* arch = nullptr;
  const ModelConfig mc = read_hf_config(d.path(), &arch);
  std::vector<TensorToWrite> ts;
  for (const auto& s : arch->weight_table(mc)) {
    const int n = (s.flags & kPerLayer) ? mc.num_layers : 1;
    for (int l = 0; l < n; ++l) {
      const std::string name = layer_name(s.hf_name, l);
      if (name == drop) continue;
      int64_t numel = 1;
      for (auto x : s.shape) numel *= x;
      ts.push_back({name, DType::F32, s.shape, std::vector<uint8_t>(static_cast<size_t>(numel) * 4, 0)});
    }
  }
  if (tweak) tweak(ts);
  write_safetensors(d.file("model.safetensors"), ts);
}

std::string load_error(const TempDir& d, ErrorCode* code = nullptr) {
  try {
    load_hf_model(d.path());
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

TEST(ModelLoading, ValidTinyModelLoads) {
  TempDir d;
  write_model(d, tiny_config());
  auto m = load_hf_model(d.path());
  EXPECT_EQ(m->config.head_dim, 8);
  EXPECT_EQ(m->weights.layers.size(), 1u);
  EXPECT_EQ(m->n_params, 10u * 16 * 2 + 16 + 16 * 2 + 16 * 16 + 8 * 16 * 2 + 16 * 16 + 32 * 16 * 3);
}

TEST(ModelLoading, UnsupportedModelType) {
  TempDir d;
  auto cfg = tiny_config();
  cfg["model_type"] = "gpt_neox";
  write_file(d.file("config.json"), cfg.dump());
  ErrorCode code{};
  const std::string msg = load_error(d, &code);
  EXPECT_EQ(code, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("gpt_neox"), std::string::npos) << msg;
  EXPECT_NE(msg.find("supported: llama, mistral, qwen2, qwen3, phi3, gemma2, stablelm"), std::string::npos) << msg;
}

// Gemma 2's config declares its layer shape (Gemma2Config's defaults where keys are absent):
// head_dim 256, tied embeddings, GeGLU from hidden_activation (not hidden_act), embedding scale
// sqrt(hidden), (1 + w) norms, post norms and their tensors, query scale, soft-caps (null = off),
// and a window on every other layer from layer 0.
TEST(ModelLoading, Gemma2ConfigDeclaresItsLayerShape) {
  TempDir d;
  auto cfg = tiny_config();
  cfg["model_type"] = "gemma2";
  cfg.erase("tie_word_embeddings");
  cfg["num_hidden_layers"] = 3;
  cfg["hidden_act"] = "silu";  // ignored: Gemma2MLP reads hidden_activation
  write_model(d, cfg);
  auto m = load_hf_model(d.path());
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(m->weights.output.data, m->weights.token_embd.data);
  EXPECT_EQ(c.hidden_act, Activation::kGeluTanh);
  EXPECT_FLOAT_EQ(c.embedding_scale, std::sqrt(static_cast<float>(c.hidden_size)));
  EXPECT_EQ(c.norm_weight_offset, 1.0f);
  EXPECT_TRUE(c.post_norms);
  EXPECT_FLOAT_EQ(c.query_scale, 1.0f / 16);  // 256^-0.5
  EXPECT_EQ(c.attn_softcap, 50.0f);
  EXPECT_EQ(c.final_softcap, 30.0f);
  EXPECT_EQ(c.sliding_window, (std::vector<int>{4096, 0, 4096}));
  EXPECT_FALSE(m->weights.layers[2].attn_post_norm.empty());
  EXPECT_FALSE(m->weights.layers[2].ffn_post_norm.empty());

  cfg["head_dim"] = 8;
  cfg["hidden_activation"] = "gelu";
  cfg["query_pre_attn_scalar"] = 64;
  cfg["attn_logit_softcapping"] = nullptr;
  cfg["final_logit_softcapping"] = 5.0;
  cfg["sliding_window"] = 7;
  cfg["layer_types"] = {"full_attention", "sliding_attention", "sliding_attention"};
  write_model(d, cfg);
  m = load_hf_model(d.path());
  EXPECT_EQ(m->config.hidden_act, Activation::kGelu);
  EXPECT_FLOAT_EQ(m->config.query_scale, 0.125f);
  EXPECT_EQ(m->config.attn_softcap, 0.0f) << "null turns soft-capping off";
  EXPECT_EQ(m->config.final_softcap, 5.0f);
  EXPECT_EQ(m->config.sliding_window, (std::vector<int>{0, 7, 7}));
  cfg["layer_types"] = {"full_attention", "chunked_attention", "full_attention"};
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("unknown layer type \"chunked_attention\""), std::string::npos) << load_error(d);
  cfg.erase("layer_types");
  cfg["final_logit_softcapping"] = -1;
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("final_logit_softcapping must be positive or null"), std::string::npos) << load_error(d);
}

// Qwen3's config: head_dim 128 when absent (Qwen3Config's default, not hidden / heads), q/k
// norms declared, biases only with attention_bias, Qwen2's window rules and layer_types.
TEST(ModelLoading, Qwen3ConfigDeclaresItsLayerShape) {
  TempDir d;
  auto cfg = tiny_config();
  cfg["model_type"] = "qwen3";
  cfg["num_hidden_layers"] = 3;
  write_model(d, cfg);
  auto m = load_hf_model(d.path());
  EXPECT_EQ(m->config.head_dim, 128);
  EXPECT_TRUE(m->config.qk_norm);
  EXPECT_FALSE(m->config.qkv_bias);
  EXPECT_EQ(m->weights.layers[0].q_norm.cols(), 128);
  EXPECT_EQ(m->weights.layers[2].k_norm.cols(), 128);
  EXPECT_EQ(m->config.sliding_window, (std::vector<int>{0, 0, 0}));

  cfg["head_dim"] = 8;
  cfg["attention_bias"] = true;
  cfg["use_sliding_window"] = true;
  cfg["sliding_window"] = 5;
  cfg["max_window_layers"] = 1;
  write_model(d, cfg);
  m = load_hf_model(d.path());
  EXPECT_TRUE(m->config.qkv_bias && m->config.o_bias);
  EXPECT_FALSE(m->weights.layers[1].bo.empty());
  EXPECT_EQ(m->config.sliding_window, (std::vector<int>{0, 5, 5}));
  cfg["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention"};
  write_model(d, cfg);
  EXPECT_EQ(load_hf_model(d.path())->config.sliding_window, (std::vector<int>{5, 0, 5}));
  cfg["use_sliding_window"] = false;  // windows only count with use_sliding_window
  write_model(d, cfg);
  EXPECT_EQ(load_hf_model(d.path())->config.sliding_window, (std::vector<int>{0, 0, 0}));
  cfg["layer_types"] = {"sliding_attention"};
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("layer_types has 1 entries for 3 layers"), std::string::npos) << load_error(d);
}

// StableLM 2: LayerNorm (with biases, layer_norm_eps), partial rotary (0.25 of the head by
// default), q/k/v biases with use_qkv_bias, head_dim from the hidden size whatever the config
// says; the parallel-residual and q/k LayerNorm variants are refused by name, and a partial
// rotary factor on a family whose modeling code rotates whole heads is an error.
TEST(ModelLoading, StableLmConfigDeclaresItsLayerShape) {
  TempDir d;
  auto cfg = tiny_config();
  cfg["model_type"] = "stablelm";
  cfg["num_hidden_layers"] = 2;
  cfg["head_dim"] = 32;  // ignored: StableLmAttention uses hidden_size / num_attention_heads
  write_model(d, cfg);
  auto m = load_hf_model(d.path());
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.head_dim, c.hidden_size / c.num_heads);
  EXPECT_TRUE(c.layer_norm);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rotary_dim, c.head_dim / 4);
  EXPECT_EQ(c.rope_dims(), c.head_dim / 4);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(m->weights.output_norm_b.empty());
  EXPECT_FALSE(m->weights.layers[1].attn_norm_b.empty());
  EXPECT_FALSE(m->weights.layers[1].ffn_norm_b.empty());

  cfg["partial_rotary_factor"] = 1.0;
  cfg["use_qkv_bias"] = true;
  cfg["layer_norm_eps"] = 1e-6;
  write_model(d, cfg);
  m = load_hf_model(d.path());
  EXPECT_EQ(m->config.rotary_dim, 0) << "the whole head";
  EXPECT_TRUE(m->config.qkv_bias);
  EXPECT_FALSE(m->weights.layers[0].bq.empty());
  EXPECT_DOUBLE_EQ(m->config.rms_norm_eps, 1e-6);
  for (const char* key : {"use_parallel_residual", "qk_layernorm"}) {
    auto bad = cfg;
    bad[key] = true;
    write_file(d.file("config.json"), bad.dump());
    EXPECT_NE(load_error(d).find(std::string(key) + " ("), std::string::npos) << load_error(d);
  }
  cfg["partial_rotary_factor"] = 0.01;  // 0 rotary dims
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("need an even number >= 2"), std::string::npos) << load_error(d);
  auto llama = tiny_config();
  llama["partial_rotary_factor"] = 0.5;
  write_file(d.file("config.json"), llama.dump());
  EXPECT_NE(load_error(d).find("partial_rotary_factor != 1 is not supported for model_type llama"), std::string::npos) << load_error(d);
}

TEST(ModelLoading, HiddenActIsTheMlpActivation) {
  TempDir d;
  auto cfg = tiny_config();
  for (const auto& [name, act] : std::vector<std::pair<std::string, Activation>>{{"silu", Activation::kSilu},
                                                                                 {"gelu", Activation::kGelu},
                                                                                 {"gelu_pytorch_tanh", Activation::kGeluTanh},
                                                                                 {"gelu_new", Activation::kGeluTanh}}) {
    cfg["hidden_act"] = name;
    write_model(d, cfg);
    EXPECT_EQ(load_hf_model(d.path())->config.hidden_act, act) << name;
  }
}

TEST(ModelLoading, ArchitecturesUsedWhenModelTypeAbsent) {
  TempDir d;
  auto cfg = tiny_config();
  cfg.erase("model_type");
  cfg["architectures"] = {"MistralForCausalLM"};
  write_model(d, cfg);
  EXPECT_EQ(load_hf_model(d.path())->config.model_type, "mistral");
}

TEST(ModelLoading, MalformedAndIncompleteConfig) {
  TempDir d;
  write_file(d.file("config.json"), "{\"model_type\": \"llama\", ");
  EXPECT_NE(load_error(d).find("not valid JSON"), std::string::npos);
  auto cfg = tiny_config();
  cfg.erase("hidden_size");
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("\"hidden_size\" is missing"), std::string::npos);
  cfg = tiny_config();
  cfg["num_attention_heads"] = 3;
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("not a multiple"), std::string::npos);
  cfg = tiny_config();
  cfg["vocab_size"] = -5;
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("positive integer"), std::string::npos);
  cfg = tiny_config();
  cfg["rope_scaling"] = {{"type", "magic"}, {"factor", 2}};
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("\"magic\""), std::string::npos);
  cfg = tiny_config();
  cfg["hidden_act"] = "quick_gelu";  // an ACT2FN name wick does not compute
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("hidden_act \"quick_gelu\" is not supported"), std::string::npos) << load_error(d);
  cfg = tiny_config();
  cfg["num_hidden_layers"] = 1 << 30;  // must fail before anything is sized by it
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("num_hidden_layers 1073741824 is absurd"), std::string::npos) << load_error(d);
}

TEST(ModelLoading, MissingFiles) {
  TempDir d;
  EXPECT_NE(load_error(d).find("no config.json"), std::string::npos);
  write_file(d.file("config.json"), tiny_config().dump());
  EXPECT_NE(load_error(d).find("expected model.safetensors"), std::string::npos);
  EXPECT_NE(
      [] {
        try {
          load_hf_model("/nonexistent/model");
        } catch (const Error& e) {
          return std::string(e.what());
        }
        return std::string();
      }()
          .find("not found"),
      std::string::npos);
}

TEST(ModelLoading, MissingTensorNamesIt) {
  TempDir d;
  write_model(d, tiny_config(), "model.layers.0.mlp.up_proj.weight");
  ErrorCode code{};
  const std::string msg = load_error(d, &code);
  EXPECT_EQ(code, ErrorCode::kNotFound);
  EXPECT_NE(msg.find("model.layers.0.mlp.up_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
}

TEST(ModelLoading, UntiedModelWithoutLmHeadSaysSo) {
  TempDir d;
  write_model(d, tiny_config(), "lm_head.weight");
  EXPECT_NE(load_error(d).find("tie_word_embeddings=false"), std::string::npos);
  auto cfg = tiny_config();
  cfg["tie_word_embeddings"] = true;
  write_model(d, cfg, "lm_head.weight");
  auto m = load_hf_model(d.path());
  EXPECT_EQ(m->weights.output.data, m->weights.token_embd.data);
}

TEST(ModelLoading, WrongShapeNamesExpectedAndActual) {
  TempDir d;
  write_model(d, tiny_config(), "", [](std::vector<TensorToWrite>& ts) {
    for (auto& t : ts)
      if (t.name == "model.layers.0.self_attn.k_proj.weight") {
        t.shape = {16, 16};
        t.bytes.resize(16 * 16 * 4);
      }
  });
  ErrorCode code{};
  const std::string msg = load_error(d, &code);
  EXPECT_EQ(code, ErrorCode::kShapeMismatch);
  EXPECT_NE(msg.find("k_proj.weight' has shape [16, 16], expected [8, 16]"), std::string::npos) << msg;
}

TEST(ModelLoading, ShardIndexErrors) {
  TempDir d;
  write_model(d, tiny_config());
  std::filesystem::rename(d.file("model.safetensors"), d.file("model-00001-of-00001.safetensors"));
  write_file(d.file("model.safetensors.index.json"), R"({"weight_map": {"a": "../../etc/passwd"}})");
  EXPECT_NE(load_error(d).find("not a plain file name"), std::string::npos);
  write_file(d.file("model.safetensors.index.json"), R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})");
  EXPECT_NE(load_error(d).find("cannot open"), std::string::npos);
  write_file(d.file("model.safetensors.index.json"), R"({"metadata": {}})");
  EXPECT_NE(load_error(d).find("weight_map"), std::string::npos);
}

}  // namespace
}  // namespace wick::test
