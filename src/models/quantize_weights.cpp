// Quantization at load time (`--dtype`) and for `wick quantize`: the matrices of a loaded model
// re-encoded into owned buffers of another type. Norm weights and biases stay as they are (they
// are tiny and the formats need whole blocks); embeddings and projections are converted.
//   A plain type: every matrix takes it; with a target below 6 bits the LM head becomes Q8_0,
//     as llama.cpp keeps its output matrix at higher precision.
//   A K-quant mix (q4_k_m, q5_k_m): llama.cpp's per-tensor choices (llama-quant.cpp,
//     llama_tensor_get_type): the base type, Q6_K for the LM head (or the tied embedding that
//     serves as it) and for attn_v / ffn_down in the layers use_more_bits picks, a fused attn_qkv
//     one step up.
// Either way a K-quant falls back to llama.cpp's 32-wide type where a row is not a multiple of 256.
#include <algorithm>
#include <cctype>
#include <map>

#include "core/quant.h"
#include "core/thread_pool.h"
#include "models/arch.h"
#include "models/model.h"
#include "wick/error.h"

namespace wick {

// llama.cpp's choices (llama-quant.cpp, tensor_type_fallback: rows that are not a multiple of
// 256): a 32-wide type of at least the bits per weight.
DType kquant_fallback(DType target, int64_t cols) {
  if (cols % dtype_info(target).block_size == 0) return target;
  switch (target) {
    case DType::Q2_K:
    case DType::Q3_K: return DType::Q4_0;
    case DType::IQ4_XS: return DType::IQ4_NL;
    case DType::Q4_K: return DType::Q5_0;
    case DType::Q5_K: return DType::Q5_1;
    case DType::Q6_K: return DType::Q8_0;
    default: return target;
  }
}

std::optional<QuantTarget> quant_target_from_name(std::string_view name) {
  std::string lower(name);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "q4_k_m") return QuantTarget{DType::Q4_K, QuantTarget::kKMix};
  if (lower == "q5_k_m") return QuantTarget{DType::Q5_K, QuantTarget::kKMix};
  if (auto t = dtype_from_name(name)) return QuantTarget{*t, QuantTarget::kPlain};
  return std::nullopt;
}

std::string quant_target_names() { return dtype_name_list() + ", q4_k_m, q5_k_m"; }

namespace {

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between.
bool use_more_bits(int layer, int n_layers) { return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2; }

}  // namespace

void quantize_loaded_model(LoadedModel& m, DType target) { quantize_loaded_model(m, QuantTarget{target, QuantTarget::kPlain}); }

void quantize_loaded_model(LoadedModel& m, QuantTarget how) {
  const DType target = how.base;
  const bool mix = how.mix == QuantTarget::kKMix;
  ThreadPool pool(0);
  std::map<std::pair<const void*, int64_t>, Tensor> done;  // (data, rows) -> converted (tied tensors once)
  auto convert = [&](Tensor& t, DType to) {
    if (t.empty() || t.ndim != 2) return;
    // K-quant super-blocks span 256 columns; narrower or odd widths fall back to the 32-wide
    // type of about the same size, as llama.cpp's quantizer does (Q6_K -> Q8_0, Q4_K -> Q5_0, ...).
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
  if (mix) {
    // The LM head first: a tied one is the embedding matrix, converted once, as the head.
    convert(m.weights.output, DType::Q6_K);
    convert(m.weights.token_embd, target);
    bool fused_qkv = false;
    for (const WeightSpec& e : expand_weight_table(*m.arch, m.config)) fused_qkv |= e.canonical.ends_with(".attn_qkv");
    const DType up_one = target == DType::Q4_K ? DType::Q5_K : DType::Q6_K;
    const int n = static_cast<int>(m.weights.layers.size());
    for (int i = 0; i < n; ++i) {
      LayerWeights& L = m.weights.layers[static_cast<size_t>(i)];
      const DType more = use_more_bits(i, n) ? DType::Q6_K : target;
      for (Tensor* t : L.matrices()) {
        if (t == &L.wq || t == &L.wk)
          convert(*t, fused_qkv ? up_one : target);
        else if (t == &L.wv)
          convert(*t, fused_qkv ? up_one : more);
        else
          convert(*t, t == &L.w_down ? more : target);
      }
    }
  } else {
    const bool below_six_bits = dtype_info(target).quantized && target != DType::Q8_0 && target != DType::Q6_K;
    convert(m.weights.output, below_six_bits ? DType::Q8_0 : target);
    convert(m.weights.token_embd, target);
    for (LayerWeights& L : m.weights.layers)
      for (Tensor* t : L.matrices()) convert(*t, target);
  }

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
