// Quantization at load time (`--dtype`): the matrices of a loaded model re-encoded into owned
// buffers of another type. Norm weights and biases stay as they are (they are tiny and the
// formats need whole blocks); embeddings and projections are converted. With a 4-bit target the
// LM head becomes Q8_0, as llama.cpp keeps its output matrix at higher precision (it uses Q6_K;
// Q8_0 has a fast integer kernel here).
#include <map>

#include "core/quant.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "wick/error.h"

namespace wick {

DType kquant_fallback(DType target, int64_t cols) {
  if (cols % dtype_info(target).block_size == 0) return target;
  if (target == DType::Q6_K) return DType::Q8_0;
  if (target == DType::Q4_K) return DType::Q4_0;
  return target;
}

void quantize_loaded_model(LoadedModel& m, DType target) {
  ThreadPool pool(0);
  std::map<std::pair<const void*, int64_t>, Tensor> done;  // (data, rows) -> converted (tied tensors once)
  auto convert = [&](Tensor& t, DType to) {
    if (t.empty() || t.ndim != 2) return;
    // K-quant super-blocks span 256 columns; narrower or odd widths fall back to the 32-wide
    // type of about the same size, as llama.cpp's quantizer does (Q6_K -> Q8_0, Q4_K -> Q4_0).
    to = kquant_fallback(to, t.cols());
    if (t.dtype == to || t.cols() % dtype_info(to).block_size != 0) return;  // e.g. odd widths stay
    const auto key = std::make_pair(t.data, t.rows());
    if (auto it = done.find(key); it != done.end()) {
      t = it->second;
      return;
    }
    auto& buf = m.owned.emplace_back(dtype_row_bytes(to, static_cast<uint64_t>(t.numel())));
    Tensor out = t;
    out.dtype = to;
    out.data = buf.data();
    const int64_t cols = t.cols();
    const uint64_t row_bytes = out.row_bytes();
    std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.size()), std::vector<float>(static_cast<size_t>(cols)));
    pool.parallel_for(t.rows(), [&](int64_t r, int thread) {
      float* row = scratch[static_cast<size_t>(thread)].data();
      dequantize_row(t.dtype, t.row_ptr(r), row, cols);
      quantize_row(to, row, buf.data() + static_cast<uint64_t>(r) * row_bytes, cols);
    });
    done[key] = out;
    t = out;
  };
  const bool four_bit = target == DType::Q4_0 || target == DType::Q4_K;
  convert(m.weights.output, four_bit ? DType::Q8_0 : target);
  convert(m.weights.token_embd, target);
  for (LayerWeights& L : m.weights.layers)
    for (Tensor* t : L.matrices()) convert(*t, target);

  // Recount what the model now holds.
  m.n_params = m.weight_bytes = 0;
  m.params_by_dtype.clear();
  std::map<const void*, bool> seen;
  auto count = [&](const Tensor& t) {
    if (t.empty() || !seen.emplace(t.data, true).second) return;
    m.n_params += static_cast<uint64_t>(t.numel());
    m.weight_bytes += t.nbytes();
    m.params_by_dtype[dtype_name(t.dtype)] += static_cast<uint64_t>(t.numel());
  };
  count(m.weights.token_embd);
  count(m.weights.output);
  count(m.weights.output_norm);
  count(m.weights.output_norm_b);
  for (const LayerWeights& L : m.weights.layers)
    for (const Tensor* t : L.all()) count(*t);
}

}  // namespace wick
