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

// The types --type / --dtype take: "f32, f16, bf16, q8_0, ..., q4_k_m, q5_k_m".
std::string quantize_type_names();

struct QuantizeOptions {
  // A block type ("q8_0", "q4_k", "iq4_nl", ...) for every matrix (K-quants fall back to
  // llama.cpp's 32-wide types where a row is not a multiple of 256; below 6 bits the LM head is
  // Q8_0), or llama.cpp's "q4_k_m" / "q5_k_m" mixes; "f16", "bf16", "f32". Norm weights stay F32.
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
