// A loaded model: its config, its family, the mapped weight files and the canonical weights.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>
#include <string>

#include "formats/gguf.h"
#include "formats/weight_files.h"
#include "models/arch.h"

namespace wick {

struct LoadedModel {
  std::string dir;
  ModelConfig config;
  const ArchSpec* arch = nullptr;
  std::unique_ptr<WeightFiles> files;  // a Hugging Face directory's safetensors, or
  std::unique_ptr<GgufFile> gguf;      // a GGUF file
  std::string weights_description;     // "model.safetensors", "3 shards (...)", "model.gguf (GGUF v3)"
  ModelWeights weights;
  uint64_t n_params = 0;      // distinct parameters (tied tensors counted once)
  uint64_t weight_bytes = 0;  // bytes of those parameters as stored
  std::map<std::string, uint64_t> params_by_dtype;
  std::vector<std::vector<uint8_t>> owned;  // weights converted at load (quantize_loaded_model)
};

// Loads config.json (+ generation_config.json) and the weights of a Hugging Face directory.
// Throws wick::Error naming the file, the tensor and expected vs actual values.
std::unique_ptr<LoadedModel> load_hf_model(const std::string& dir);

// A GGUF file (llama, qwen2, phi3 architectures): metadata -> config, tensors memory-mapped
// (q/k rows of "llama" files restored to transformers' order). Throws wick::Error.
std::unique_ptr<LoadedModel> load_gguf_model(const std::string& path);
std::unique_ptr<LoadedModel> load_gguf_model(std::unique_ptr<GgufFile> file);  // an opened (or in-memory) file
// GGUF metadata -> ModelConfig (also used by `inspect`).
ModelConfig read_gguf_config(const GgufFile& g, const ArchSpec** arch_out = nullptr);

// Where a weight table's tensors come from: the name a spec is stored under, and the tensor
// stored under a name (.tensor.data == nullptr when absent).
struct WeightSource {
  std::string (*stored_name)(const WeightSpec& s);
  std::function<FoundTensor(const std::string& name)> find;
  std::string description;  // for "missing from ..." errors
  std::string config_name;  // where the expected shapes come from ("config.json", "GGUF metadata")
  bool allow_quantized;     // block-quantized tensors accepted (GGUF) or not (safetensors)
};
// Expands m.arch's weight table for m.config, looks every tensor up in `src`, checks shapes and
// dtypes, resolves tied tensors, counts parameters and binds m.weights.
void resolve_weights(LoadedModel& m, const WeightSource& src);

// The type a matrix `cols` wide gets when `target` is asked for: K-quants need multiples of 256
// columns and fall back as llama.cpp's quantizer does: Q6_K -> Q8_0, Q5_K -> Q5_1, Q4_K -> Q5_0,
// Q3_K / Q2_K -> Q4_0, IQ4_XS -> IQ4_NL.
DType kquant_fallback(DType target, int64_t cols);
// What `--dtype` / `wick quantize --type` asks for: one type for every matrix, or a K-quant mix
// as llama.cpp's Q4_K_M / Q5_K_M (base Q4_K / Q5_K).
struct QuantTarget {
  DType base;
  enum Mix { kPlain, kKMix } mix = kPlain;
};
// "q8_0", "Q4_K", ... or "q4_k_m" / "q5_k_m"; nullopt for anything else.
std::optional<QuantTarget> quant_target_from_name(std::string_view name);
std::string quant_target_names();  // "f32, f16, ..., q4_k_m, q5_k_m"
// Re-encodes the model's matrices as asked into owned buffers (see quantize_weights.cpp).
void quantize_loaded_model(LoadedModel& m, QuantTarget target);
void quantize_loaded_model(LoadedModel& m, DType target);

// config.json -> ModelConfig (also used by `inspect` and the tests).
ModelConfig read_hf_config(const std::string& dir, const ArchSpec** arch_out = nullptr);

}  // namespace wick
