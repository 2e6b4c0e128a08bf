// Model conversion: a Hugging Face directory (or a GGUF file) -> a GGUF file of block-quantized
// weights with its tokenizer, in the layout llama.cpp writes and reads (`wick quantize`).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "wick/error.h"

namespace wick {

struct QuantizeOptions {
  // "q8_0", "q4_0", "q4_k", "q6_k", "f16", "bf16" or "f32". Matrices take this type (K-quants
  // fall back to Q8_0/Q4_0 where a row is not a multiple of 256); with 4-bit types the LM head
  // is Q8_0; norm weights stay F32.
  std::string type = "q8_0";
  // Called after each tensor is written: (tensors done, tensors in all).
  std::function<void(int, int)> progress;
};

struct QuantizeReport {
  int n_tensors = 0;
  uint64_t n_params = 0;
  uint64_t file_bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> params_by_dtype;  // e.g. {"Q8_0", 1034944512}
};

// Writes `out_path` (through a temporary file renamed at the end, so a failure leaves nothing).
Result<QuantizeReport> quantize_to_gguf(const std::string& model_path, const std::string& out_path, const QuantizeOptions& opts = {});

}  // namespace wick
