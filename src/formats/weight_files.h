// The weight files of a Hugging Face model directory: model.safetensors, or shards listed by
// model.safetensors.index.json. Lookup by tensor name across shards, with the aliases that
// safetensors __metadata__ declares (TinyStories stores only lm_head.weight and says
// "model.embed_tokens.weight": "lm_head.weight").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/safetensors.h"

namespace wick {

struct FoundTensor {
  Tensor tensor;
  const std::string* file = nullptr;  // the file it lives in, for error messages
};

class WeightFiles {
 public:
  explicit WeightFiles(const std::string& model_dir);

  // nullopt-like: .tensor.data == nullptr when absent.
  FoundTensor find(const std::string& name) const;
  std::string describe() const;  // "model.safetensors" or "3 shards (model-0000N-of-00003...)"
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const SafetensorsFile*, std::string>> index_;  // name -> (file, stored name)
};

}  // namespace wick
