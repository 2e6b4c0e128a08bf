// A loaded model: its config, its family, the mapped weight files and the canonical weights.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "formats/weight_files.h"
#include "models/arch.h"

namespace wick {

struct LoadedModel {
  std::string dir;
  ModelConfig config;
  const ArchSpec* arch = nullptr;
  std::unique_ptr<WeightFiles> files;
  ModelWeights weights;
  uint64_t n_params = 0;                   // distinct parameters (tied tensors counted once)
  uint64_t weight_bytes = 0;               // bytes of those parameters as stored
  std::map<std::string, uint64_t> params_by_dtype;
};

// Loads config.json (+ generation_config.json) and the weights of a Hugging Face directory.
// Throws wick::Error naming the file, the tensor and expected vs actual values.
std::unique_ptr<LoadedModel> load_hf_model(const std::string& dir);

// config.json -> ModelConfig (also used by `inspect` and the tests).
ModelConfig read_hf_config(const std::string& dir, const ArchSpec** arch_out = nullptr);

}  // namespace wick
