// Every supported architecture variant against the independent PyTorch reference
// (tests/reference/hf_reference.py) on small random-weight models: each named intermediate
// of the prefill, the prefill logits of every prompt token, and the logits of several decode
// steps, with greedy-token agreement. A failure names the first layer that diverged.
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "test_util.h"
#include "wick/model.h"

namespace wick::test {
namespace {

struct Variant {
  std::string name;
  std::string args;        // wick-make-model arguments
  double tol;              // max |wick - ref| / max(1, max |ref|), per dtype (F16/BF16 weights are upcast exactly,
                           // so they differ from F32 only through the values the reference sees)
  int prompt_len = 12;     // tokens prefilled
  int batch_tokens = 256;  // the prefill's chunk size
  int steps = 4;           // decode steps
  // Why transformers (5.24) refuses this variant's config.json, leaving it to the float64
  // rewrite; "" = transformers judges it too.
  std::string transformers_refuses = "";
};

// transformers 5.24's config validation requires rope_parameters["factor"] for yarn, although
// its _compute_yarn_parameters still derives a missing one (DeepSeek-V3 style).
const char* kYarnWithoutFactor = "yarn without \"factor\" fails transformers 5.24's config validation";
// Phi3Config renames "su" to "longrope" only after validating, and "su" requires no
// original_max_position_embeddings inside rope_scaling: old Phi-3 128k configs no longer load.
const char* kPhi3Su = "\"su\" rope_scaling fails transformers 5.24's Phi3Config validation";

const double kTolF32 = 2e-5;
const double kTol16 = 2e-5;

std::vector<Variant> variants() {
  const std::string longrope_factors =
      R"("short_factor":[1.0,1.1,1.2,1.3,1.5,1.8,2.0,2.5],"long_factor":[1.0,1.5,2.0,3.0,4.0,6.0,8.0,10.0])";
  return {
      {"llama_f32_gqa", "--arch llama", kTolF32},
      {"llama_f16", "--arch llama --dtype f16", kTol16},
      {"llama_bf16", "--arch llama --dtype bf16", kTol16},
      {"llama_mha_biases", "--arch llama --set num_key_value_heads=4 --set attention_bias=true --set mlp_bias=true", kTolF32},
      {"llama_explicit_head_dim", "--arch llama --set head_dim=32", kTolF32},
      {"llama_tied", "--arch llama --set tie_word_embeddings=true", kTolF32},
      {"llama_rope_linear", R"(--arch llama --set 'rope_scaling={"type":"linear","factor":2.0}')", kTolF32},
      {"llama_rope_dynamic", R"(--arch llama --set max_position_embeddings=8 --set 'rope_scaling={"type":"dynamic","factor":4.0}')",
       kTolF32},
      {"llama_rope_yarn", R"(--arch llama --set 'rope_scaling={"type":"yarn","factor":4.0,"original_max_position_embeddings":16}')",
       kTolF32},
      // The configured factor (2), not max_position_embeddings / original (64 / 16 = 4).
      {"llama_rope_yarn_factor_vs_lengths",
       R"(--arch llama --set 'rope_scaling={"type":"yarn","factor":2.0,"original_max_position_embeddings":16,"beta_fast":16}')", kTolF32},
      // No factor: derived from the two lengths (DeepSeek-V3 style), with mscale / mscale_all_dim.
      {"llama_rope_yarn_derived_mscale",
       R"(--arch llama --set 'rope_scaling={"type":"yarn","original_max_position_embeddings":8,"mscale":0.707,"mscale_all_dim":1.0}')",
       kTolF32, 12, 256, 4, kYarnWithoutFactor},
      {"llama_rope_yarn_no_original", R"(--arch llama --set 'rope_scaling={"type":"yarn","factor":3.0,"beta_fast":8,"beta_slow":2}')",
       kTolF32},
      {"llama_rope_llama3",
       R"(--arch llama --set 'rope_scaling={"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":16}')",
       kTolF32},
      {"llama_sharded_f16", "--arch llama --dtype f16 --shards 3", kTol16},
      {"mistral_sliding_window", "--arch mistral --set sliding_window=5", kTolF32},
      {"mistral_bf16_no_window", "--arch mistral --dtype bf16 --set sliding_window=null", kTol16},
      {"qwen2_biases_tied_window_bf16",
       "--arch qwen2 --dtype bf16 --set tie_word_embeddings=true --set use_sliding_window=true --set sliding_window=6 --set "
       "max_window_layers=1",
       kTol16},
      {"qwen2_window_every_layer", "--arch qwen2 --set use_sliding_window=true --set sliding_window=5 --set max_window_layers=0", kTolF32},
      {"qwen2_f32", "--arch qwen2 --set num_key_value_heads=1", kTolF32},
      // Qwen3: q/k norms per head before rope; tied and untied; f32 and bf16; Qwen3Config's
      // default head_dim (128, four times hidden / heads here) with biases and a window.
      {"qwen3_f32_untied", "--arch qwen3 --set head_dim=16", kTolF32},
      {"qwen3_bf16_tied", "--arch qwen3 --dtype bf16 --set head_dim=16 --set tie_word_embeddings=true", kTol16},
      {"qwen3_default_head_dim_bias_window",
       "--arch qwen3 --set attention_bias=true --set use_sliding_window=true --set sliding_window=5 --set max_window_layers=1", kTolF32},
      {"qwen3_f16_across_blocks", "--arch qwen3 --dtype f16 --set head_dim=16 --set num_key_value_heads=1", kTol16, 40, 7, 8},
      // hidden_act read from the config (transformers' LlamaMLP / MistralMLP: ACT2FN[hidden_act]).
      {"llama_gelu_tanh", "--arch llama --set hidden_act='\"gelu_pytorch_tanh\"'", kTolF32},
      {"mistral_gelu", "--arch mistral --set hidden_act='\"gelu\"' --set sliding_window=6", kTolF32},
      {"phi3_longrope_short",
       "--arch phi3 --set sliding_window=7 --set original_max_position_embeddings=32 --set 'rope_scaling={\"type\":\"longrope\"," +
           longrope_factors + "}'",
       kTolF32},
      {"phi3_su_long_f16",
       "--arch phi3 --dtype f16 --set original_max_position_embeddings=8 --set 'rope_scaling={\"type\":\"su\"," + longrope_factors + "}'",
       kTol16, 12, 256, 4, kPhi3Su},
      {"phi3_longrope_long_f16",
       "--arch phi3 --dtype f16 --set original_max_position_embeddings=8 --set 'rope_scaling={\"type\":\"longrope\"," + longrope_factors +
           "}'",
       kTol16},
      {"phi3_longrope_crossing",
       "--arch phi3 --set original_max_position_embeddings=14 --set 'rope_scaling={\"type\":\"longrope\"," + longrope_factors + "}'",
       kTolF32},
      // Gemma 2: scaled embeddings, (1 + w) norms, post-attention and post-feedforward norms,
      // query_pre_attn_scalar, attention and final logit soft-capping (small caps, so they bend the
      // scores), GeGLU, a 5-token window on layer 0 only (Gemma2Config's alternating default).
      {"gemma2_f32_softcaps_window",
       "--arch gemma2 --set head_dim=16 --set sliding_window=5 --set query_pre_attn_scalar=24 --set attn_logit_softcapping=2.0 "
       "--set final_logit_softcapping=3.0",
       kTolF32, 20, 256, 6},
      // Gemma2Config's defaults: head_dim 256, query scalar 256, caps 50 / 30, window 4096; tied, bf16.
      {"gemma2_bf16_defaults_tied", "--arch gemma2 --dtype bf16 --set tie_word_embeddings=true", kTol16},
      // Soft-capping off (null), layer_types naming layer 1 sliding, exact GELU, chunked prefill.
      {"gemma2_nulls_layer_types_chunks",
       "--arch gemma2 --set head_dim=32 --set attn_logit_softcapping=null --set final_logit_softcapping=null --set sliding_window=6 "
       "--set 'layer_types=[\"full_attention\",\"sliding_attention\"]' --set hidden_activation='\"gelu\"'",
       kTolF32, 30, 7, 6},
      // StableLM 2: LayerNorm with biases, rope on a quarter of each head (the default factor),
      // then half of it with q/k/v biases in bf16, then linear rope scaling across KV blocks.
      {"stablelm_f32_quarter_rotary", "--arch stablelm", kTolF32},
      {"stablelm_bf16_half_rotary_qkv_bias", "--arch stablelm --dtype bf16 --set partial_rotary_factor=0.5 --set use_qkv_bias=true",
       kTol16},
      {"stablelm_rope_linear_across_blocks", R"(--arch stablelm --set 'rope_scaling={"type":"linear","factor":2.0}')", kTolF32, 40, 7, 8},
      // Boundaries: 40 prompt tokens in chunks of 7 and 8 decode steps cross two 16-token KV
      // blocks and six prefill chunks; a 20-token window slides across blocks.
      {"llama_40_tokens_chunks_of_7", "--arch llama", kTolF32, 40, 7, 8},
      {"mistral_window_across_blocks", "--arch mistral --set sliding_window=20", kTolF32, 40, 7, 8},
      {"qwen2_window_across_blocks_bf16",
       "--arch qwen2 --dtype bf16 --set use_sliding_window=true --set sliding_window=18 --set max_window_layers=1", kTol16, 40, 7, 8},
  };
}

const std::vector<int> kPrompt12 = {1, 80, 147, 201, 189, 111, 7, 1500, 33, 402, 91, 1024};

std::vector<int> prompt_of(const Variant& v) {
  std::vector<int> p = kPrompt12;
  for (int i = static_cast<int>(p.size()); i < v.prompt_len; ++i) p.push_back(3 + (i * 7919) % 2000);
  p.resize(static_cast<size_t>(v.prompt_len));
  return p;
}

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class ReferenceTest : public ::testing::TestWithParam<Variant> {};

// An oracle: the Python that runs it and its script (same job format and output names).
struct Oracle {
  std::string label;        // in messages and the summary line
  std::string python;       // "" when unavailable
  std::string script;       // under tests/reference/
  bool every_intermediate;  // false: only the names the oracle exposes (transformers' hidden states)
};

// Writes the variant's random model and runs the oracle on it; "" or an error.
std::string make_model_and_reference(const Variant& v, const Oracle& o, const std::string& d) {
  std::string out;
  const std::string cmd =
      bin("wick-make-model") + " --preset tiny --seed 7 --testdata '" + testdata_dir() + "' -o " + d + " " + v.args + " 2>&1";
  if (run_command(cmd, &out) != 0) return "wick-make-model failed: " + out;
  nlohmann::json jobs = {{{"dir", d}, {"prompt", prompt_of(v)}, {"steps", v.steps}, {"out", d + "/reference.safetensors"}}};
  write_file(d + "/jobs.json", jobs.dump());
  if (run_command(o.python + " " + WICK_SOURCE_DIR + "/tests/reference/" + o.script + " " + d + "/jobs.json 2>&1", &out) != 0)
    return o.label + " failed: " + out;
  return "";
}

double rel_error(const float* a, const float* ref, size_t n, double* max_abs_out = nullptr) {
  double err = 0, scale = 1;
  for (size_t i = 0; i < n; ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - ref[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
  }
  if (max_abs_out) *max_abs_out = err;
  return err / scale;
}

int argmax(const float* x, int n) { return static_cast<int>(std::max_element(x, x + n) - x); }

// Runs the variant through wick on `device` and compares it with the oracle's output in `d`:
// named intermediates in forward order (the first divergence is reported), the prefill logits,
// each decode step's logits and the greedy tokens.
void compare_on_device(const Variant& v, const Oracle& o, const std::string& d, const std::string& device) {
  SCOPED_TRACE("device " + device);
  SafetensorsFile ref(d + "/reference.safetensors");
  auto model = Model::load(d);
  ASSERT_TRUE(model) << model.error().what();
  const std::vector<int> prompt = prompt_of(v);
  SessionOptions so;
  so.all_logits = true;
  so.n_threads = 2;
  so.batch_tokens = v.batch_tokens;
  so.device = device;
  auto session = Session::create(model.value(), so);
  ASSERT_TRUE(session) << session.error().what();
  // Intermediates by name, the chunks of a chunked prefill concatenated in order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<float>> seen;
  session.value()->set_activation_hook([&](const char* name, const float* data, int rows, int cols) {
    auto& buf = seen[name];
    if (buf.empty()) order.push_back(name);
    buf.insert(buf.end(), data, data + static_cast<size_t>(rows) * cols);
  });
  auto logits = session.value()->append(prompt);
  ASSERT_TRUE(logits) << logits.error().what();

  // Layer by layer, in forward order: the first divergence is the one reported. The blocks run
  // on every chunk; the final norm and the head only on the last chunk (earlier chunks' logits
  // are dropped), so those two compare against the reference's last rows.
  const size_t last_rows = static_cast<size_t>((static_cast<int>(prompt.size()) - 1) % v.batch_tokens + 1);
  double worst = 0;
  size_t compared = 0;
  for (const auto& name : order) {
    const auto& data = seen[name];
    const Tensor* r = ref.find("prefill/" + name);
    if (r == nullptr && !o.every_intermediate) continue;
    ASSERT_NE(r, nullptr) << "reference has no " << name;
    ++compared;
    const bool head_only = name == "out_norm" || name == "logits";
    const size_t ref_rows = prompt.size();
    const size_t rows = head_only ? last_rows : ref_rows;
    ASSERT_EQ(static_cast<size_t>(r->numel()) / ref_rows * rows, data.size()) << name << ": every chunk's rows";
    const float* ref_data = static_cast<const float*>(r->data) + (static_cast<size_t>(r->numel()) - data.size());
    const double e = rel_error(data.data(), ref_data, data.size());
    worst = std::max(worst, e);
    ASSERT_LT(e, v.tol) << v.name << ": first divergence from " << o.label << " at '" << name << "' (relative error " << e << ")";
  }
  const int n_layers = model.value()->config().num_layers;
  EXPECT_EQ(compared, o.every_intermediate ? order.size() : static_cast<size_t>(n_layers + 2))
      << "every named intermediate the oracle has was compared";
  EXPECT_EQ(order.size(), 3 + 5 * static_cast<size_t>(n_layers)) << "embd, 5 per block, out_norm, logits";
  session.value()->set_activation_hook(nullptr);

  // With all_logits the session keeps the logits of the last chunk: compare those rows.
  const int V = model.value()->config().vocab_size;
  const Tensor* ref_logits = ref.find("prefill/logits");
  const float* ref_last = static_cast<const float*>(ref_logits->data) + (prompt.size() - last_rows) * static_cast<size_t>(V);
  double prefill_abs = 0;
  const double prefill_rel = rel_error(logits.value(), ref_last, last_rows * static_cast<size_t>(V), &prefill_abs);
  EXPECT_LT(prefill_rel, v.tol) << "prefill logits of the last chunk";
  const auto* ref_tokens = static_cast<const float*>(ref.find("tokens")->data);
  EXPECT_EQ(argmax(logits.value() + (last_rows - 1) * static_cast<size_t>(V), V), static_cast<int>(ref_tokens[0]));

  double decode_abs = 0;
  for (int i = 0; i < v.steps; ++i) {
    const int tok = static_cast<int>(ref_tokens[i]);
    auto step = session.value()->append(&tok, 1);
    ASSERT_TRUE(step) << step.error().what();
    const Tensor* r = ref.find("decode." + std::to_string(i) + "/logits");
    ASSERT_NE(r, nullptr);
    double abs_err = 0;
    const double e = rel_error(step.value(), static_cast<const float*>(r->data), static_cast<size_t>(V), &abs_err);
    decode_abs = std::max(decode_abs, abs_err);
    EXPECT_LT(e, v.tol) << v.name << ": decode step " << i << " logits diverge";
    if (i + 1 < v.steps) {
      EXPECT_EQ(argmax(step.value(), V), static_cast<int>(ref_tokens[i + 1])) << "greedy token at step " << i + 1;
    }
  }
  std::printf("[%s] %-32s %-9s max rel err (layers) %.2e | logits max abs err: prefill %.2e, decode %.2e\n", o.label.c_str(),
              v.name.c_str(), device.c_str(), worst, prefill_abs, decode_abs);
}

// The oracle runs once; wick runs on the CPU backend and on the reference backend, whose arena
// memory proves the forward pass, KV cache and engine reach the backend only through its
// interface (a stray host access to its memory faults, an overrun throws).
void compare_with_oracle(const Variant& v, const Oracle& o) {
  TempDir tmp;
  const std::string d = tmp.file(v.name);
  const std::string setup_error = make_model_and_reference(v, o, d);
  ASSERT_TRUE(setup_error.empty()) << setup_error;
  for (const char* device : {"cpu", "reference"}) {
    compare_on_device(v, o, d, device);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST_P(ReferenceTest, MatchesPyTorchLayerByLayer) {
  WICK_REQUIRE_TESTDATA();
  if (torch_python().empty()) {
    if (in_ci()) FAIL() << "/usr/bin/python3 cannot import torch (install python3-torch)";
    WICK_MISSING("/usr/bin/python3 with torch (Debian python3-torch) is missing: reference comparison did not run");
  }
  compare_with_oracle(GetParam(), {"reference", torch_python(), "hf_reference.py", true});
}

// The same variants against Hugging Face transformers itself (float64, eager attention, its own
// KV cache; transformers 5.24 over PyPI's torch 2.6 in .venv-torch): proves the float64 rewrite's
// reading of the modeling code, rope scalings, windows and Qwen3's q/k norms included.
class TransformersTest : public ::testing::TestWithParam<Variant> {};

TEST_P(TransformersTest, MatchesTransformers) {
  WICK_REQUIRE_TESTDATA();
  static const std::string py = std::string(WICK_SOURCE_DIR) + "/.venv-torch/bin/python3";
  static const bool available = run_command(py + " -c 'import transformers, torch' 2>/dev/null") == 0;
  if (!available) WICK_MISSING(".venv-torch with transformers is missing (run scripts/setup.sh): transformers comparison did not run");
  compare_with_oracle(GetParam(), {"transformers", py, "transformers_reference.py", false});
}

std::vector<Variant> transformers_variants() {
  std::vector<Variant> out;
  for (const Variant& v : variants())
    if (v.transformers_refuses.empty()) out.push_back(v);
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllVariants, TransformersTest, ::testing::ValuesIn(transformers_variants()),
                         [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(AllVariants, ReferenceTest, ::testing::ValuesIn(variants()), [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace wick::test
