// GGUF model files -> LoadedModel. The metadata keys are llama.cpp's (src/llama-arch.cpp,
// LLM_KV_*: "{arch}.embedding_length", "{arch}.attention.head_count", ...); the tensor names
// come from each family's weight table (WeightSpec::gguf_name). Tensors stay memory-mapped,
// except the q/k projections of "llama" files, whose rows llama.cpp's converter reordered for
// its interleaved rotary embedding (convert_hf_to_gguf.py, LlamaModel.permute): they are copied
// back into transformers' order so the one forward pass serves every format.
#include <cmath>
#include <cstring>

#include "models/model.h"
#include "wick/error.h"

namespace wick {
namespace {

struct MetadataReader {
  const GgufFile& g;
  std::string arch;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(ErrorCode::kCorruptFile, g.name() + ": " + key + " " + what);
  }
  std::string key(const char* suffix) const { return arch + "." + suffix; }
  std::optional<int64_t> int_opt(const char* suffix) const { return g.get_int(key(suffix)); }
  int positive(const char* suffix) const {
    const auto v = int_opt(suffix);
    if (!v) fail(key(suffix), "is missing");
    if (*v <= 0 || *v > (1 << 30)) fail(key(suffix), "= " + std::to_string(*v) + " is out of range");
    return static_cast<int>(*v);
  }
  double number_or(const char* suffix, double fallback) const {
    const GgufValue* v = g.find(key(suffix));
    if (!v) return fallback;
    if (!v->is_number()) fail(key(suffix), std::string("must be a number, not ") + gguf_type_name(v->type));
    return v->is_integer() ? static_cast<double>(v->i) : v->f;
  }
};

// A q/k projection (or its bias) of a "llama" file in transformers' row order, copied into
// m.owned (see reorder_qk_rows).
Tensor unpermute_rows(const Tensor& t, int n_heads, LoadedModel& m) {
  if (t.empty()) return t;
  // A bias is a column of one-element rows.
  const int64_t n_rows = t.ndim == 2 ? t.rows() : t.cols();
  const uint64_t row_bytes = t.ndim == 2 ? t.row_bytes() : dtype_row_bytes(t.dtype, 1);
  auto& buf = m.owned.emplace_back(row_bytes * static_cast<uint64_t>(n_rows));
  reorder_qk_rows(static_cast<const uint8_t*>(t.data), buf.data(), n_rows, row_bytes, n_heads, false);
  Tensor out = t;
  out.data = buf.data();
  return out;
}

}  // namespace

// A per-frequency rope factor tensor (F32, head_dim / 2 values) as doubles; empty if absent.
std::vector<double> rope_factor_tensor(const GgufFile& g, const std::string& name, int head_dim) {
  const GgufTensorInfo* info = g.find_tensor(name);
  if (!info) return {};
  if (info->ggml_type != 0 || info->dims.size() != 1 || info->dims[0] != static_cast<uint64_t>(head_dim / 2))
    throw Error(ErrorCode::kCorruptFile,
                g.name() + ": " + name + " must be F32 with head_dim / 2 = " + std::to_string(head_dim / 2) + " values");
  const auto* f = reinterpret_cast<const float*>(g.tensor_data(*info));
  std::vector<double> out(f, f + head_dim / 2);
  for (double v : out)
    if (!(v > 0) || !std::isfinite(v))
      throw Error(ErrorCode::kCorruptFile, g.name() + ": " + name + " holds a factor that is not positive");
  return out;
}

// Rope scaling as llama.cpp's converter writes it: rope.scaling.type linear / yarn (factor,
// original_context_length, beta_fast / beta_slow, attn_factor); Llama 3.1 scaling as a
// rope_freqs tensor; Phi-3's longrope as rope_factors_long / rope_factors_short tensors with
// rope.scaling.attn_factor and original_context_length.
void read_gguf_rope(const GgufFile& g, const MetadataReader& r, ModelConfig& cfg) {
  RopeScaling& rope = cfg.rope;
  const std::string scaling = g.get_string(r.key("rope.scaling.type")).value_or("none");
  const auto original = r.int_opt("rope.scaling.original_context_length");
  if (original && *original <= 0) r.fail(r.key("rope.scaling.original_context_length"), "must be positive");
  const auto attn_factor = g.get_float(r.key("rope.scaling.attn_factor"));
  if (attn_factor && !(*attn_factor > 0)) r.fail(r.key("rope.scaling.attn_factor"), "must be positive");
  auto freqs = rope_factor_tensor(g, "rope_freqs.weight", cfg.head_dim);
  auto long_f = rope_factor_tensor(g, "rope_factors_long.weight", cfg.head_dim);
  auto short_f = rope_factor_tensor(g, "rope_factors_short.weight", cfg.head_dim);
  if (scaling == "linear") {
    rope.type = RopeType::kLinear;
    rope.factor = r.number_or("rope.scaling.factor", 0);
    if (!(rope.factor > 0)) r.fail(r.key("rope.scaling.factor"), "must be positive for linear scaling");
  } else if (scaling == "yarn") {
    rope.type = RopeType::kYarn;
    rope.factor = r.number_or("rope.scaling.factor", 0);
    if (!(rope.factor >= 1)) r.fail(r.key("rope.scaling.factor"), "must be at least 1 for yarn scaling");
    rope.original_max_position_embeddings = static_cast<int>(original.value_or(0));
    rope.beta_fast = r.number_or("rope.scaling.yarn_beta_fast", 32.0);
    rope.beta_slow = r.number_or("rope.scaling.yarn_beta_slow", 1.0);
    if (g.get_float(r.key("rope.scaling.yarn_log_multiplier")))
      throw Error(ErrorCode::kUnsupported, g.name() + ": yarn with a log multiplier (DeepSeek's mscale) is not supported");
    // llama.cpp multiplies yarn's own 0.1 ln(factor) + 1 by attn_factor.
    if (attn_factor) rope.attention_factor = *attn_factor * (rope.factor <= 1 ? 1.0 : 0.1 * std::log(rope.factor) + 1.0);
  } else if (scaling != "none") {
    throw Error(ErrorCode::kUnsupported,
                g.name() + ": rope scaling \"" + scaling + "\" in GGUF files is not supported (none, linear, yarn)");
  }
  if (!freqs.empty()) {
    if (rope.type != RopeType::kDefault) throw Error(ErrorCode::kCorruptFile, g.name() + ": rope_freqs with rope scaling " + scaling);
    rope.type = RopeType::kLlama3;
    rope.freq_factors = std::move(freqs);
  }
  if (!long_f.empty() || !short_f.empty()) {
    if (long_f.empty() || short_f.empty() || rope.type != RopeType::kDefault)
      throw Error(ErrorCode::kCorruptFile,
                  g.name() + ": longrope needs both rope_factors_long and rope_factors_short, and no other scaling");
    rope.type = RopeType::kLongRope;
    rope.long_factor = std::move(long_f);
    rope.short_factor = std::move(short_f);
    if (attn_factor) rope.attention_factor = *attn_factor;
    cfg.original_max_position_embeddings = static_cast<int>(original.value_or(0));
  }
}

ModelConfig read_gguf_config(const GgufFile& g, const ArchSpec** arch_out) {
  const auto arch_name = g.get_string("general.architecture");
  if (!arch_name) throw Error(ErrorCode::kCorruptFile, g.name() + ": no general.architecture: not a model file");
  const ArchSpec& arch = find_gguf_arch(*arch_name, g.name());
  MetadataReader r{g, *arch_name};
  ModelConfig cfg;
  cfg.model_type = arch.model_type;
  cfg.architecture = arch.architectures[0];
  cfg.hidden_size = r.positive("embedding_length");
  cfg.num_layers = r.positive("block_count");
  // Every layer stores tensors: more layers than the file has tensors is corrupt (and must fail
  // before anything is sized by it).
  if (static_cast<size_t>(cfg.num_layers) > g.tensors().size())
    r.fail(r.key("block_count"), "= " + std::to_string(cfg.num_layers) + " asks for more layers than the " +
                                     std::to_string(g.tensors().size()) + " tensors the file holds");
  cfg.intermediate_size = r.positive("feed_forward_length");
  cfg.num_heads = r.positive("attention.head_count");
  cfg.num_kv_heads = r.int_opt("attention.head_count_kv") ? r.positive("attention.head_count_kv") : cfg.num_heads;
  if (cfg.num_heads % cfg.num_kv_heads != 0)
    r.fail(r.key("attention.head_count"), std::string("(") + std::to_string(cfg.num_heads) + ") is not a multiple of head_count_kv (" +
                                              std::to_string(cfg.num_kv_heads) + ")");
  if (r.int_opt("attention.key_length")) {
    cfg.head_dim = r.positive("attention.key_length");
  } else {
    if (cfg.hidden_size % cfg.num_heads != 0) r.fail(r.key("embedding_length"), "is not a multiple of the head count");
    cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  }
  if (cfg.head_dim % 2 != 0) r.fail(r.key("attention.key_length"), "is odd; rotary embeddings need an even size");
  if (r.int_opt("attention.value_length") && r.positive("attention.value_length") != cfg.head_dim)
    throw Error(ErrorCode::kUnsupported, g.name() + ": value_length != key_length is not supported");
  if (r.int_opt("rope.dimension_count") && r.positive("rope.dimension_count") != cfg.head_dim)
    throw Error(ErrorCode::kUnsupported, g.name() + ": partial rotary embeddings (rope.dimension_count " +
                                             std::to_string(*r.int_opt("rope.dimension_count")) + " < head size " +
                                             std::to_string(cfg.head_dim) + ") are not supported");
  cfg.max_position_embeddings = r.positive("context_length");
  cfg.rms_norm_eps = r.number_or("attention.layer_norm_rms_epsilon", 1e-5);
  if (!(cfg.rms_norm_eps > 0)) r.fail(r.key("attention.layer_norm_rms_epsilon"), "must be positive");
  cfg.rope_theta = r.number_or("rope.freq_base", 10000.0);
  if (!(cfg.rope_theta > 1)) r.fail(r.key("rope.freq_base"), "must be greater than 1");
  read_gguf_rope(g, r, cfg);
  const int window = static_cast<int>(r.int_opt("attention.sliding_window").value_or(0));
  if (window < 0) r.fail(r.key("attention.sliding_window"), "must not be negative");
  cfg.sliding_window.assign(static_cast<size_t>(cfg.num_layers), window);

  const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2) throw Error(ErrorCode::kCorruptFile, g.name() + ": no 2-D token_embd.weight");
  if (embd->dims[1] > (1u << 24))
    throw Error(ErrorCode::kCorruptFile, g.name() + ": token_embd.weight has " + std::to_string(embd->dims[1]) + " rows");
  cfg.vocab_size = static_cast<int>(embd->dims[1]);
  cfg.tie_word_embeddings = g.find_tensor("output.weight") == nullptr;
  // Biases are declared by their presence (llama.cpp's loader treats them as optional).
  cfg.qkv_bias = g.find_tensor("blk.0.attn_q.bias") || g.find_tensor("blk.0.attn_qkv.bias");
  cfg.o_bias = g.find_tensor("blk.0.attn_output.bias") != nullptr;
  cfg.mlp_bias = g.find_tensor("blk.0.ffn_down.bias") != nullptr;
  if (arch.parse_gguf) arch.parse_gguf(g, cfg);
  if (const auto bos = g.get_int("tokenizer.ggml.bos_token_id")) cfg.bos_token_id = static_cast<int>(*bos);
  if (const auto eos = g.get_int("tokenizer.ggml.eos_token_id")) cfg.eos_token_ids = {static_cast<int>(*eos)};
  if (const auto eot = g.get_int("tokenizer.ggml.eot_token_id"); eot && (cfg.eos_token_ids.empty() || *eot != cfg.eos_token_ids[0]))
    cfg.eos_token_ids.push_back(static_cast<int>(*eot));
  for (int id : cfg.eos_token_ids)
    if (id < 0 || id >= cfg.vocab_size)
      throw Error(ErrorCode::kCorruptFile, g.name() + ": eos token id " + std::to_string(id) + " is outside the vocabulary");
  const auto ftype = g.get_int("general.file_type");
  cfg.torch_dtype = ftype ? "gguf file_type " + std::to_string(*ftype) : "gguf";
  if (arch_out) *arch_out = &arch;
  return cfg;
}

std::unique_ptr<LoadedModel> load_gguf_model(const std::string& path) { return load_gguf_model(GgufFile::open(path)); }

std::unique_ptr<LoadedModel> load_gguf_model(std::unique_ptr<GgufFile> file) {
  auto m = std::make_unique<LoadedModel>();
  m->dir = file->name();
  m->gguf = std::move(file);
  const GgufFile& g = *m->gguf;
  m->config = read_gguf_config(g, &m->arch);
  m->weights_description = g.name() + " (GGUF v" + std::to_string(g.version()) + ")";
  resolve_weights(*m, {gguf_tensor_name,
                       [&g](const std::string& name) {
                         FoundTensor f;
                         f.file = &g.name();
                         const GgufTensorInfo* info = g.find_tensor(name);
                         if (!info) return f;
                         const GgmlTypeInfo* type = ggml_type_info(info->ggml_type);
                         if (!type || !type->dtype)
                           throw Error(ErrorCode::kUnsupported,
                                       g.name() + ": tensor '" + name + "' has type " +
                                           (type ? type->name : std::to_string(info->ggml_type)) +
                                           ", which wick does not compute with (supported: " + dtype_name_list(false) + ")");
                         Tensor& t = f.tensor;
                         t.dtype = *type->dtype;
                         t.ndim = static_cast<int>(info->dims.size());
                         for (int i = 0; i < t.ndim; ++i)
                           t.shape[static_cast<size_t>(i)] = static_cast<int64_t>(info->dims[info->dims.size() - 1 - i]);
                         t.data = g.tensor_data(*info);
                         return f;
                       },
                       g.name(), "GGUF metadata", true});
  if (m->arch->gguf_permutes_qk) {
    const ModelConfig& c = m->config;
    for (LayerWeights& L : m->weights.layers) {
      L.wq = unpermute_rows(L.wq, c.num_heads, *m);
      L.wk = unpermute_rows(L.wk, c.num_kv_heads, *m);
      L.bq = unpermute_rows(L.bq, c.num_heads, *m);
      L.bk = unpermute_rows(L.bk, c.num_kv_heads, *m);
    }
  }
  return m;
}

}  // namespace wick
