// quantize_to_gguf: a Hugging Face model -> GGUF v3, following llama.cpp's converter
// (convert_hf_to_gguf.py) so llama.cpp loads the file: its metadata keys, its tensor names
// (each family's weight table), 1-D tensors in F32, q/k rows of "llama" files reordered for
// its interleaved rotary embedding, and the tokenizer as tokenizer.ggml.*.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "core/quant.h"
#include "formats/gguf_writer.h"
#include "models/model.h"
#include "models/rope.h"
#include "tokenizer/gguf_vocab_writer.h"
#include "wick/quantize.h"

namespace wick {
namespace fs = std::filesystem;
namespace {

// llama.cpp's llama_ftype, for general.file_type (what its tools print as the model's type).
uint32_t llama_file_type(QuantTarget target) {
  if (target.mix == QuantTarget::kKMix) return target.base == DType::Q4_K ? 15 : 17;  // Q4_K_M, Q5_K_M
  switch (target.base) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::Q4_1: return 3;
    case DType::Q5_0: return 8;
    case DType::Q5_1: return 9;
    case DType::Q2_K: return 10;
    case DType::Q3_K: return 11;  // Q3_K_S: every matrix Q3_K
    case DType::Q4_K: return 14;  // Q4_K_S
    case DType::Q5_K: return 16;  // Q5_K_S
    case DType::Q6_K: return 18;
    case DType::IQ4_NL: return 25;
    case DType::IQ4_XS: return 30;
    case DType::BF16: return 32;
    default: return 0;
  }
}

// Rope scaling as llama.cpp's converter writes it (convert_hf_to_gguf.py): linear and yarn as
// rope.scaling.* keys; llama3 and longrope as keys plus per-frequency factor tensors
// (rope_tensors below).
void write_rope_metadata(GgufWriter& w, const ModelConfig& c, const std::string& a) {
  const RopeScaling& r = c.rope;
  switch (r.type) {
    case RopeType::kDefault:
    case RopeType::kLlama3: return;  // llama3: the rope_freqs tensor says it all
    case RopeType::kLinear:
      w.set_string(a + ".rope.scaling.type", "linear");
      w.set_f32(a + ".rope.scaling.factor", static_cast<float>(r.factor));
      return;
    case RopeType::kYarn: {
      if (!r.truncate) throw Error(ErrorCode::kUnsupported, "yarn with truncate = false cannot be written to GGUF (llama.cpp truncates)");
      w.set_string(a + ".rope.scaling.type", "yarn");
      w.set_f32(a + ".rope.scaling.factor", static_cast<float>(r.factor));
      if (r.original_max_position_embeddings > 0)
        w.set_u32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(r.original_max_position_embeddings));
      w.set_f32(a + ".rope.scaling.yarn_beta_fast", static_cast<float>(r.beta_fast));
      w.set_f32(a + ".rope.scaling.yarn_beta_slow", static_cast<float>(r.beta_slow));
      // llama.cpp multiplies its own 0.1 ln(factor) + 1 by attn_factor: write the ratio when
      // the config asks for another attention factor.
      const float effective = RotaryEmbedding(c).attention_factor();
      const double own = r.factor <= 1 ? 1.0 : 0.1 * std::log(r.factor) + 1.0;
      if (std::fabs(effective - own) > 1e-7 * own) w.set_f32(a + ".rope.scaling.attn_factor", static_cast<float>(effective / own));
      return;
    }
    case RopeType::kLongRope: {
      w.set_f32(a + ".rope.scaling.attn_factor", RotaryEmbedding(c).attention_factor());
      if (c.original_max_position_embeddings > 0)
        w.set_u32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(c.original_max_position_embeddings));
      return;
    }
    case RopeType::kDynamic:
      throw Error(ErrorCode::kUnsupported, "rope scaling \"dynamic\" cannot be written to GGUF (llama.cpp has no dynamic NTK)");
  }
}

void write_model_metadata(GgufWriter& w, const LoadedModel& m, QuantTarget type, const std::string& name) {
  const ModelConfig& c = m.config;
  if (!m.arch->gguf_arch) throw Error(ErrorCode::kUnsupported, std::string(m.arch->model_type) + " models cannot be written to GGUF yet");
  const std::string a = m.arch->gguf_arch;
  w.set_string("general.architecture", a);
  w.set_string("general.name", name);
  w.set_u32("general.file_type", llama_file_type(type));
  w.set_u32("general.quantization_version", 2);  // GGML_QNT_VERSION
  w.set_u32(a + ".context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.set_u32(a + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.set_u32(a + ".block_count", static_cast<uint32_t>(c.num_layers));
  w.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.set_u32(a + ".attention.head_count", static_cast<uint32_t>(c.num_heads));
  w.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
  w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(c.head_dim));
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.set_f32(a + ".rope.freq_base", static_cast<float>(c.rope_theta));
  w.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.set_u32(a + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  write_rope_metadata(w, c, a);
  if (c.hidden_act != Activation::kSilu)  // llama.cpp's llama/qwen2/qwen3/phi3 graphs are SwiGLU
    throw Error(ErrorCode::kUnsupported, std::string("hidden_act \"") + activation_name(c.hidden_act) +
                                             "\" cannot be written to GGUF (llama.cpp computes these architectures with silu)");
  const int window = c.sliding_window.empty() ? 0 : c.sliding_window[0];
  for (int w_l : c.sliding_window)
    if (w_l != window) throw Error(ErrorCode::kUnsupported, "per-layer sliding windows cannot be written to GGUF");
  if (window > 0) w.set_u32(a + ".attention.sliding_window", static_cast<uint32_t>(window));
}

// One GGUF tensor: its parts (rows concatenated), its type and whether its rows are reordered.
struct OutTensor {
  std::string name;
  std::vector<Tensor> parts;
  DType dtype;
  int64_t rows = 0, cols = 0;
  bool vector = false;
  int permute_heads = 0;  // > 0: reorder rows per head for llama.cpp's interleaved rope
};

std::vector<uint8_t> tensor_bytes(const OutTensor& o) {
  std::vector<uint8_t> bytes;
  for (const Tensor& p : o.parts) {
    const auto* src = static_cast<const uint8_t*>(p.data);
    if (p.dtype == o.dtype) {
      bytes.insert(bytes.end(), src, src + p.nbytes());
    } else {  // vectors: stored as F32, as llama.cpp keeps them
      std::vector<float> f(static_cast<size_t>(p.numel()));
      dequantize_row(p.dtype, src, f.data(), p.numel());
      const auto* b = reinterpret_cast<const uint8_t*>(f.data());
      bytes.insert(bytes.end(), b, b + f.size() * sizeof(float));
    }
  }
  if (o.permute_heads > 0) {
    const uint64_t row_bytes = o.vector ? sizeof(float) : dtype_row_bytes(o.dtype, static_cast<uint64_t>(o.cols));
    std::vector<uint8_t> gguf_order(bytes.size());
    reorder_qk_rows(bytes.data(), gguf_order.data(), o.vector ? o.cols : o.rows, row_bytes, o.permute_heads, true);
    bytes.swap(gguf_order);
  }
  return bytes;
}

std::vector<OutTensor> plan_tensors(const LoadedModel& m) {
  const ModelConfig& c = m.config;
  std::vector<OutTensor> out;
  for (const WeightSpec& e : expand_weight_table(*m.arch, c)) {
    // A tied LM head is the embedding matrix: llama.cpp ties when output.weight is absent.
    if (e.canonical == "output" && c.tie_word_embeddings) continue;
    OutTensor o;
    o.name = gguf_tensor_name(e);
    o.parts = canonical_tensor_parts(m.weights, e.canonical);
    if (o.parts.empty()) {
      if (e.flags & kOptional) continue;
      throw Error(ErrorCode::kInternal, "no weights bound for " + e.canonical);
    }
    o.vector = o.parts[0].ndim == 1;
    o.dtype = o.vector ? DType::F32 : o.parts[0].dtype;
    for (const Tensor& p : o.parts) {
      if (!o.vector && (p.dtype != o.dtype || p.cols() != o.parts[0].cols()))
        throw Error(ErrorCode::kInternal, "the parts of " + o.name + " differ in type or width");
      o.rows += o.vector ? 0 : p.rows();
      o.cols = o.vector ? o.cols + p.cols() : p.cols();
    }
    if (m.arch->gguf_permutes_qk) {
      const std::string tail = e.canonical.substr(e.canonical.find('.', 4) + 1);
      if (tail == "attn_q" || tail == "attn_q.bias") o.permute_heads = c.num_heads;
      if (tail == "attn_k" || tail == "attn_k.bias") o.permute_heads = c.num_kv_heads;
    }
    out.push_back(std::move(o));
  }
  return out;
}

// llama.cpp's per-frequency rope tensors (F32, head_dim / 2): rope_freqs for llama3 (divisors
// of the default frequencies: default / llama3's), rope_factors_long / _short for longrope.
void append_rope_tensors(const ModelConfig& c, std::vector<OutTensor>& plan, std::vector<std::vector<float>>& storage) {
  auto add = [&](const std::string& name, std::vector<float> values) {
    storage.push_back(std::move(values));
    OutTensor o;
    o.name = name;
    Tensor t;
    t.dtype = DType::F32;
    t.ndim = 1;
    t.shape = {static_cast<int64_t>(storage.back().size()), 0, 0, 0};
    t.data = storage.back().data();
    o.parts = {t};
    o.dtype = DType::F32;
    o.vector = true;
    o.cols = t.cols();
    plan.push_back(std::move(o));
  };
  if (c.rope.type == RopeType::kLlama3) {
    if (!c.rope.freq_factors.empty()) {
      add("rope_freqs.weight", std::vector<float>(c.rope.freq_factors.begin(), c.rope.freq_factors.end()));
    } else {
      const std::vector<float> base = default_inv_freq(c.rope_theta, c.rope_dims());
      const std::vector<float> scaled = RotaryEmbedding(c).inv_freq_for(1);
      std::vector<float> f(base.size());
      for (size_t i = 0; i < f.size(); ++i) f[i] = base[i] / scaled[i];
      add("rope_freqs.weight", std::move(f));
    }
  } else if (c.rope.type == RopeType::kLongRope) {
    add("rope_factors_long.weight", std::vector<float>(c.rope.long_factor.begin(), c.rope.long_factor.end()));
    add("rope_factors_short.weight", std::vector<float>(c.rope.short_factor.begin(), c.rope.short_factor.end()));
  }
}

// A GGUF source's tokenizer: every tokenizer.* key copied as it is (the vocabulary, scores,
// token types, merges, special ids, chat template).
void copy_gguf_vocab(const GgufFile& g, GgufWriter& w) {
  for (const auto& [key, v] : g.metadata()) {
    if (!key.starts_with("tokenizer.")) continue;
    switch (v.type) {
      case GgufType::kString: w.set_string(key, std::string(v.str)); break;
      case GgufType::kBool: w.set_bool(key, v.i != 0); break;
      case GgufType::kF32:
      case GgufType::kF64: w.set_f32(key, static_cast<float>(v.f)); break;
      case GgufType::kI8:
      case GgufType::kI16:
      case GgufType::kI32:
      case GgufType::kI64: w.set_i32(key, static_cast<int32_t>(v.i)); break;
      case GgufType::kArray:
        if (v.elem_type == GgufType::kString) {
          w.set_strings(key, std::vector<std::string>(v.strings.begin(), v.strings.end()));
        } else if (v.elem_type == GgufType::kF32 || v.elem_type == GgufType::kF64) {
          w.set_f32s(key, std::vector<float>(v.numbers.begin(), v.numbers.end()));
        } else {
          std::vector<int32_t> ints(v.numbers.size());
          for (size_t i = 0; i < ints.size(); ++i) ints[i] = static_cast<int32_t>(v.numbers[i]);
          w.set_i32s(key, ints);
        }
        break;
      default: w.set_u32(key, static_cast<uint32_t>(v.i)); break;  // unsigned integers
    }
  }
}

}  // namespace

std::string quantize_type_names() { return quant_target_names(); }

Result<QuantizeReport> quantize_to_gguf(const std::string& model_path, const std::string& out_path, const QuantizeOptions& opts) {
  return capture_errors([&] {
    const auto type = quant_target_from_name(opts.type);
    if (!type) throw Error(ErrorCode::kInvalidArgument, "unknown type '" + opts.type + "' (known: " + quant_target_names() + ")");
    // A GGUF file is re-quantized (its weights decoded and encoded anew, its tokenizer copied);
    // a directory is a Hugging Face model.
    const bool from_gguf = fs::is_regular_file(model_path) && GgufFile::has_magic(model_path);
    if (!from_gguf && !fs::is_directory(model_path))
      throw Error(ErrorCode::kInvalidArgument,
                  model_path + " is neither a Hugging Face model directory (config.json, tokenizer.json, safetensors) nor a GGUF file");
    auto m = from_gguf ? load_gguf_model(model_path) : load_hf_model(model_path);
    const std::string tokenizer_json = (fs::path(model_path) / "tokenizer.json").string();
    if (!from_gguf && !fs::exists(tokenizer_json)) throw Error(ErrorCode::kNotFound, "no tokenizer.json in " + model_path);
    quantize_loaded_model(*m, *type);

    GgufWriter w;
    std::string name = from_gguf ? fs::path(model_path).stem().string() : fs::path(model_path).filename().string();
    if (name.empty()) name = fs::path(model_path).parent_path().filename().string();
    if (from_gguf)
      if (auto n = m->gguf->get_string("general.name")) name = *n;
    write_model_metadata(w, *m, *type, name);
    if (from_gguf)
      copy_gguf_vocab(*m->gguf, w);
    else
      write_gguf_vocab(tokenizer_json, w, m->config.vocab_size);
    std::vector<OutTensor> plan = plan_tensors(*m);
    std::vector<std::vector<float>> rope_storage;
    append_rope_tensors(m->config, plan, rope_storage);
    QuantizeReport report;
    std::map<std::string, uint64_t> by_dtype;
    for (const OutTensor& o : plan) {
      std::vector<uint64_t> dims = o.vector ? std::vector<uint64_t>{static_cast<uint64_t>(o.cols)}
                                            : std::vector<uint64_t>{static_cast<uint64_t>(o.cols), static_cast<uint64_t>(o.rows)};
      w.add_tensor(o.name, dims, ggml_type_of(o.dtype));
      const uint64_t numel = static_cast<uint64_t>(o.vector ? o.cols : o.rows * o.cols);
      report.n_params += numel;
      by_dtype[dtype_name(o.dtype)] += numel;
    }
    const std::string part = out_path + ".part";
    try {
      w.begin(part);
      int done = 0;
      for (const OutTensor& o : plan) {
        const std::vector<uint8_t> bytes = tensor_bytes(o);
        w.write_tensor(bytes.data(), bytes.size());
        if (opts.progress) opts.progress(++done, static_cast<int>(plan.size()));
      }
      w.finish();
      fs::rename(part, out_path);
    } catch (...) {
      std::error_code ec;
      fs::remove(part, ec);
      throw;
    }
    report.n_tensors = static_cast<int>(plan.size());
    report.file_bytes = fs::file_size(out_path);
    report.params_by_dtype.assign(by_dtype.begin(), by_dtype.end());
    return report;
  });
}

}  // namespace wick
