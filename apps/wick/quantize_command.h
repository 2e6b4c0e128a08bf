// `wick quantize -m DIR --type q8_0|q4_0|q4_k|... -o model.gguf`: a Hugging Face model as a
// GGUF file (with its tokenizer) that wick and llama.cpp load.
#pragma once

#include "cli_common.h"

namespace wick::cli {

struct QuantizeCommand {
  std::string model_dir, type = "q8_0", out;
  bool json = false;
  CLI::App* add(CLI::App& app);
  int run() const;
};

}  // namespace wick::cli
