// config.json and weight-table errors: unsupported model_type, malformed or incomplete config,
// missing tensors, wrong shapes and dtypes — each names the file, the tensor and the values.
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
  return json{{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}}, {"hidden_size", 16},
              {"intermediate_size", 32}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
              {"num_key_value_heads", 1}, {"vocab_size", 10}, {"max_position_embeddings", 32},
              {"eos_token_id", 2}, {"tie_word_embeddings", false}};
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
  EXPECT_NE(msg.find("supported: llama, mistral, qwen2, phi3"), std::string::npos) << msg;
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
  cfg["hidden_act"] = "gelu";
  write_file(d.file("config.json"), cfg.dump());
  EXPECT_NE(load_error(d).find("gelu"), std::string::npos);
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
  EXPECT_NE([] { try { load_hf_model("/nonexistent/model"); } catch (const Error& e) { return std::string(e.what()); } return std::string(); }().find("not found"),
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
