// wick-make-model: writes a Hugging Face-layout model directory with random weights, for any
// supported architecture and shape. Tests use tiny ones; benchmarks use real shapes (presets).
//
//   wick-make-model --preset tinyllama-1.1b -o /tmp/tinyllama [--dtype bf16] [--seed 1]
//   wick-make-model --preset tiny --arch qwen2 --set num_key_value_heads=1 --shards 2 -o DIR
//
// Tensor names and shapes come from the architecture's weight table (src/models), so the
// files are exactly what the loader expects; the PyTorch reference in tests/reference reads
// them with its own, independent naming.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "models/model.h"
#include "wick/error.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace wick;

namespace {

struct Preset {
  const char* name;
  const char* tokenizer;  // testdata folder with tokenizer.json (+ tokenizer_config.json)
  const char* config;     // config.json fields
};

// Shapes of the public configs. DeepSeek-Prover-V2-7B's own tokenizer (102400 ids) is only in
// the test data as a GGUF vocab, so its preset borrows the 32000-token Llama 2/Mistral one.
const Preset kPresets[] = {
    {"tiny", "models/tinystories-656k",
     R"({"model_type":"llama","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,
         "num_key_value_heads":2,"vocab_size":2048,"max_position_embeddings":64,"rope_theta":10000.0,"rms_norm_eps":1e-6,
         "bos_token_id":1,"eos_token_id":2,"tie_word_embeddings":false})"},
    {"tinyllama-1.1b", "tokenizers/mistral-v0.1",
     R"({"model_type":"llama","hidden_size":2048,"intermediate_size":5632,"num_hidden_layers":22,"num_attention_heads":32,
         "num_key_value_heads":4,"vocab_size":32000,"max_position_embeddings":2048,"rope_theta":10000.0,"rms_norm_eps":1e-5,
         "bos_token_id":1,"eos_token_id":2,"tie_word_embeddings":false})"},
    {"qwen2.5-0.5b", "tokenizers/qwen2",
     R"({"model_type":"qwen2","hidden_size":896,"intermediate_size":4864,"num_hidden_layers":24,"num_attention_heads":14,
         "num_key_value_heads":2,"vocab_size":151936,"max_position_embeddings":32768,"rope_theta":1000000.0,
         "rms_norm_eps":1e-6,"bos_token_id":151643,"eos_token_id":151643,"tie_word_embeddings":true,
         "use_sliding_window":false,"sliding_window":32768,"max_window_layers":21})"},
    {"llama-3.2-1b", "tokenizers/llama3",
     R"({"model_type":"llama","hidden_size":2048,"intermediate_size":8192,"num_hidden_layers":16,"num_attention_heads":32,
         "num_key_value_heads":8,"head_dim":64,"vocab_size":128256,"max_position_embeddings":131072,"rope_theta":500000.0,
         "rms_norm_eps":1e-5,"bos_token_id":128000,"eos_token_id":[128001,128008,128009],"tie_word_embeddings":true,
         "rope_scaling":{"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                         "original_max_position_embeddings":8192}})"},
    {"deepseek-prover-v2-7b", "tokenizers/mistral-v0.1",
     R"({"model_type":"llama","hidden_size":4096,"intermediate_size":11008,"num_hidden_layers":30,"num_attention_heads":32,
         "num_key_value_heads":32,"vocab_size":102400,"max_position_embeddings":4096,"rope_theta":10000.0,
         "rms_norm_eps":1e-6,"bos_token_id":100000,"eos_token_id":100001,"tie_word_embeddings":false})"},
    // tokenizers/qwen2 holds Qwen3's tokenizer.json (the same byte-level BPE as Qwen2.5's).
    {"qwen3-0.6b", "tokenizers/qwen2",
     R"({"model_type":"qwen3","hidden_size":1024,"intermediate_size":3072,"num_hidden_layers":28,"num_attention_heads":16,
         "num_key_value_heads":8,"head_dim":128,"vocab_size":151936,"max_position_embeddings":40960,"rope_theta":1000000.0,
         "rms_norm_eps":1e-6,"bos_token_id":151643,"eos_token_id":151645,"tie_word_embeddings":true,"attention_bias":false,
         "use_sliding_window":false,"sliding_window":null,"max_window_layers":28})"},
    {"phi-3-mini", "tokenizers/mistral-v0.1",
     R"({"model_type":"phi3","hidden_size":3072,"intermediate_size":8192,"num_hidden_layers":32,"num_attention_heads":32,
         "num_key_value_heads":32,"vocab_size":32064,"max_position_embeddings":4096,"original_max_position_embeddings":4096,
         "rope_theta":10000.0,"rms_norm_eps":1e-5,"sliding_window":2047,"bos_token_id":1,"eos_token_id":32000,
         "tie_word_embeddings":false})"},
    {"mistral-7b", "tokenizers/mistral-v0.1",
     R"({"model_type":"mistral","hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,
         "num_key_value_heads":8,"vocab_size":32000,"max_position_embeddings":32768,"rope_theta":10000.0,"rms_norm_eps":1e-5,
         "sliding_window":4096,"bos_token_id":1,"eos_token_id":2,"tie_word_embeddings":false})"},
};

const char* architecture_for(const std::string& model_type) {
  if (const ArchSpec* a = arch_by_model_type(model_type)) return a->architectures[0];
  throw Error(ErrorCode::kUnsupported, "unknown architecture " + model_type + " (known: " + supported_model_types() + ")");
}

// splitmix64: fast, seedable, good enough for random weights.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }  // [-1, 1)
};

std::string default_testdata() {
  if (const char* e = std::getenv("WICK_TESTDATA")) return e;
  for (const char* c : {"../shared/testdata", "../../shared/testdata", "../../../shared/testdata"})
    if (fs::exists(c)) return c;
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wick-make-model: a Hugging Face model directory with random weights"};
  std::string preset = "tiny", arch, out_dir, dtype_name_s = "f32", testdata = default_testdata(), tokenizer;
  std::vector<std::string> sets;
  uint64_t seed = 1;
  int shards = 1;
  float scale = 1.0f;
  bool list = false;
  app.add_option("--preset", preset, "shape preset (--list to see them)");
  app.add_option("--arch", arch, "override model_type: " + supported_model_types());
  app.add_option("-o,--out", out_dir, "output directory");
  app.add_option("--dtype", dtype_name_s, dtype_name_list(true, true));
  app.add_option("--seed", seed, "random seed");
  app.add_option("--shards", shards, "number of safetensors shards (>1 writes an index)")->check(CLI::PositiveNumber);
  app.add_option("--set", sets, "override a config.json field: key=JSON (e.g. rope_scaling='{\"type\":\"linear\",\"factor\":2}')");
  app.add_option("--testdata", testdata, "test data folder (tokenizers)");
  app.add_option("--tokenizer", tokenizer, "tokenizer folder inside the test data (default: the preset's)");
  app.add_option("--scale", scale, "weight scale multiplier");
  app.add_flag("--list", list, "list presets");
  CLI11_PARSE(app, argc, argv);
  if (list) {
    for (const auto& p : kPresets) std::printf("%-24s %s\n", p.name, p.tokenizer);
    return 0;
  }
  try {
    if (out_dir.empty()) throw Error(ErrorCode::kInvalidArgument, "--out is required");
    const Preset* p = nullptr;
    for (const auto& x : kPresets)
      if (preset == x.name) p = &x;
    if (!p) throw Error(ErrorCode::kInvalidArgument, "unknown preset " + preset + " (see --list)");
    json cfg = json::parse(p->config);
    if (!arch.empty()) cfg["model_type"] = arch;
    for (const auto& s : sets) {
      const auto eq = s.find('=');
      if (eq == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--set needs key=value: " + s);
      cfg[s.substr(0, eq)] = json::parse(s.substr(eq + 1));
    }
    cfg["architectures"] = {architecture_for(cfg["model_type"].get<std::string>())};
    if (!cfg.contains("hidden_act")) cfg["hidden_act"] = "silu";
    const auto parsed = dtype_from_name(dtype_name_s);
    if (!parsed || dtype_info(*parsed).quantized)
      throw Error(ErrorCode::kInvalidArgument, "--dtype must be one of " + dtype_name_list(true, true));
    const DType dtype = *parsed;
    cfg["torch_dtype"] = dtype == DType::F32 ? "float32" : dtype == DType::F16 ? "float16" : "bfloat16";

    fs::create_directories(out_dir);
    { std::ofstream(fs::path(out_dir) / "config.json") << cfg.dump(2) << "\n"; }
    {
      std::ofstream(fs::path(out_dir) / "generation_config.json")
          << json{{"bos_token_id", cfg["bos_token_id"]}, {"eos_token_id", cfg["eos_token_id"]}}.dump(2) << "\n";
    }
    const std::string tok_folder = tokenizer.empty() ? p->tokenizer : tokenizer;
    if (testdata.empty() || !fs::exists(fs::path(testdata) / tok_folder / "tokenizer.json"))
      throw Error(ErrorCode::kNotFound,
                  "tokenizer " + tok_folder + " not found in the test data folder '" + testdata + "' (set WICK_TESTDATA or --testdata)");
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
      const fs::path src = fs::path(testdata) / tok_folder / f;
      if (fs::exists(src)) {
        fs::copy_file(src, fs::path(out_dir) / f, fs::copy_options::overwrite_existing);
        fs::permissions(fs::path(out_dir) / f, fs::perms::owner_write, fs::perm_options::add);
      }
    }

    const ArchSpec* spec = nullptr;
    const ModelConfig mc = read_hf_config(out_dir, &spec);
    // Expand the weight table; with tied embeddings only the embedding matrix is stored.
    struct W {
      std::string name;
      std::vector<int64_t> shape;
      std::string canonical;
    };
    std::vector<W> weights;
    for (const auto& s : spec->weight_table(mc)) {
      if (mc.tie_word_embeddings && s.canonical == "output") continue;
      const int n = (s.flags & kPerLayer) ? mc.num_layers : 1;
      for (int l = 0; l < n; ++l) weights.push_back({layer_name(s.hf_name, l), s.shape, s.canonical});
    }
    shards = std::min<int>(shards, static_cast<int>(weights.size()));
    json weight_map = json::object();
    Rng rng{seed};
    std::vector<uint8_t> buf;
    std::vector<float> vals;
    uint64_t total = 0;
    for (int sh = 0; sh < shards; ++sh) {
      char name[64];
      if (shards == 1)
        std::snprintf(name, sizeof name, "model.safetensors");
      else
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", sh + 1, shards);
      std::vector<SafetensorsWriter::Entry> entries;
      std::vector<const W*> mine;
      for (size_t i = static_cast<size_t>(sh); i < weights.size(); i += static_cast<size_t>(shards)) {
        entries.push_back({weights[i].name, dtype, weights[i].shape});
        mine.push_back(&weights[i]);
        weight_map[weights[i].name] = name;
      }
      // "format": "pt" as torch.save_file writes it: transformers refuses files without it.
      SafetensorsWriter writer((fs::path(out_dir) / name).string(), entries, {{"format", "pt"}});
      for (const W* w : mine) {
        int64_t numel = 1;
        for (auto d : w->shape) numel *= d;
        // Norm weights near 1, biases small, matrices ~ U with std 1/sqrt(fan_in) (embeddings
        // std 1): peaked enough that greedy choices are not ties.
        const bool is_norm = w->canonical.find("norm") != std::string::npos;
        const bool is_bias = w->name.size() > 5 && w->name.compare(w->name.size() - 5, 5, ".bias") == 0;
        const bool is_embd = w->canonical == "token_embd";
        const bool is_head = w->canonical == "output";
        const float fan_in = w->shape.size() == 2 ? static_cast<float>(w->shape[1]) : 1.0f;
        const float amp = std::sqrt(3.0f) * scale *
                          (is_embd   ? 1.0f
                           : is_bias ? 0.1f
                           : is_norm ? 0.1f
                                     : (is_head ? 4.0f : 1.0f) / std::sqrt(fan_in));
        vals.resize(static_cast<size_t>(numel));
        // Norms scale by (offset + weight): centred on an effective scale of 1 (Gemma stores weight - 1).
        for (auto& v : vals) v = (is_norm && !is_bias ? 1.0f - mc.norm_weight_offset : 0.0f) + amp * rng.uniform();
        buf.resize(static_cast<size_t>(dtype_row_bytes(dtype, static_cast<uint64_t>(numel))));
        if (dtype == DType::F32) {
          std::memcpy(buf.data(), vals.data(), buf.size());
        } else {
          auto* h = reinterpret_cast<uint16_t*>(buf.data());
          for (size_t i = 0; i < vals.size(); ++i) h[i] = dtype == DType::F16 ? f32_to_f16(vals[i]) : f32_to_bf16(vals[i]);
        }
        writer.write_next(buf.data(), buf.size());
        total += buf.size();
      }
      writer.finish();
      if (isatty(2)) std::fprintf(stderr, "\rwrote shard %d/%d (%.1f MiB)", sh + 1, shards, total / 1048576.0);
    }
    if (isatty(2)) std::fprintf(stderr, "\n");
    if (shards > 1) {
      std::ofstream(fs::path(out_dir) / "model.safetensors.index.json")
          << json{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}.dump(2) << "\n";
    }
    std::printf("%s: %s %s, %.1f M parameters, %s\n", out_dir.c_str(), preset.c_str(), mc.model_type.c_str(),
                static_cast<double>(total) / dtype_info(dtype).block_bytes / 1e6, dtype_name(dtype));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wick-make-model: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
