// The energy head of proof search: a small MLP over the policy model's own pooled final-norm
// embedding of a proof state, giving one number — lower energy = more provable. Loaded from a
// directory holding head.json (the shape and how its input was made) and head.safetensors:
//
//   head.json   {"format": "wick-energy-head", "input_dim": 4096, "hidden": [1024, 256],
//                "activation": "silu" | "relu" | "gelu", "layer_norm": false, "layer_norm_eps": 1e-5,
//                "pooling": "mean" | "last", "normalize_input": false,
//                "embedding_dtype": "bfloat16", "template": "{state}"}
//   tensors     layers.I.weight [out, in], layers.I.bias [out] for I = 0..len(hidden) (the last
//               maps to 1 output); with layer_norm, norms.I.weight / norms.I.bias [hidden[I]].
//
// Each hidden layer is Linear -> (LayerNorm) -> activation; the last is Linear. It runs on the
// CPU backend's kernels, batch-invariant like the model. embedding_dtype records the dtype of
// the model whose embeddings the head was trained on: embeddings of the same model in another
// dtype differ (a bf16/fp16 mismatch once cost a prover real accuracy), so a mismatch is warned.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "wick/embedder.h"
#include "wick/model.h"

namespace wick {

struct EnergyHeadConfig {
  int input_dim = 0;
  std::vector<int> hidden;
  std::string activation = "silu";
  bool layer_norm = false;
  double layer_norm_eps = 1e-5;
  Pooling pooling = Pooling::kMean;
  bool normalize_input = false;
  std::string embedding_dtype;            // e.g. "bfloat16", "float16", "float32", "q8_0"; "" = unknown
  std::string template_text = "{state}";  // how a proof state becomes the embedded text
};

class EnergyHead {
 public:
  // device: as EngineOptions::device ("auto", "cpu", ...): the head computes on that backend.
  static Result<std::unique_ptr<EnergyHead>> load(const std::string& dir, int n_threads = 0, const std::string& device = "auto");
  ~EnergyHead();

  // Energies of n embeddings [n, input_dim]. Thread-safe (calls are serialized).
  Result<std::vector<float>> energies(const float* embeddings, int n) const;
  Result<std::vector<float>> energies(const std::vector<std::vector<float>>& embeddings) const;

  const EnergyHeadConfig& config() const;
  // Why this model's embeddings may not be what the head was trained on ("" when they match
  // or the head does not say): a different hidden size is an error, a different dtype a warning.
  std::string dtype_warning(const Model& model) const;
  Result<bool> check_model(const Model& model) const;  // the hidden size matches

  struct Impl;

 private:
  explicit EnergyHead(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes a head with random weights (tests, benchmarks): head.json + head.safetensors in dir.
Result<bool> write_random_energy_head(const std::string& dir, const EnergyHeadConfig& config, uint64_t seed);

}  // namespace wick
