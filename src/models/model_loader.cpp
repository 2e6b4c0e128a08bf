#include <filesystem>
#include <set>

#include "formats/hf_config.h"
#include "models/model.h"
#include "wick/error.h"

namespace wick {
namespace fs = std::filesystem;

ModelConfig read_hf_config(const std::string& dir, const ArchSpec** arch_out) {
  if (!fs::is_directory(dir)) throw Error(ErrorCode::kNotFound, "model directory not found: " + dir);
  const std::string path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(path)) throw Error(ErrorCode::kNotFound, "no config.json in " + dir);
  const auto j = read_json_file(path);
  if (!j.is_object()) throw Error(ErrorCode::kCorruptFile, path + ": not a JSON object");
  JsonFields f(j, path);
  ModelConfig cfg;
  cfg.model_type = f.string_or("model_type", "");
  std::vector<std::string> archs;
  if (j.contains("architectures") && j["architectures"].is_array())
    for (const auto& a : j["architectures"])
      if (a.is_string()) archs.push_back(a.get<std::string>());
  const ArchSpec& arch = find_arch(cfg.model_type, archs, path);
  cfg.model_type = arch.model_type;
  cfg.architecture = archs.empty() ? std::string(arch.architectures[0]) : archs[0];
  parse_common_config(f, cfg, arch.default_head_dim);
  arch.parse_config(f, cfg);
  // Partial rotary is declared by the families whose modeling code slices the heads (stablelm);
  // others' apply_rotary_pos_emb rotates whole heads, so a factor there is a config error.
  if (cfg.rotary_dim == 0 && f.has("partial_rotary_factor") && f.number_or("partial_rotary_factor", 1.0) != 1.0)
    throw Error(ErrorCode::kUnsupported, path + ": partial_rotary_factor != 1 is not supported for model_type " + cfg.model_type);
  apply_generation_config((fs::path(dir) / "generation_config.json").string(), cfg);
  for (int id : cfg.eos_token_ids)
    if (id >= cfg.vocab_size)
      f.fail("eos_token_id " + std::to_string(id) + " is outside the vocabulary (" + std::to_string(cfg.vocab_size) + ")");
  if (arch_out) *arch_out = &arch;
  return cfg;
}

namespace {

bool same_shape(const Tensor& t, const std::vector<int64_t>& shape) {
  if (t.ndim != static_cast<int>(shape.size())) return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (t.shape[i] != shape[i]) return false;
  return true;
}

}  // namespace

std::unique_ptr<LoadedModel> load_hf_model(const std::string& dir) {
  auto m = std::make_unique<LoadedModel>();
  m->dir = dir;
  m->config = read_hf_config(dir, &m->arch);
  m->files = std::make_unique<WeightFiles>(dir);
  m->weights_description = m->files->describe();
  const WeightFiles& files = *m->files;
  resolve_weights(*m, {[](const WeightSpec& s) { return s.hf_name; }, [&files](const std::string& name) { return files.find(name); },
                       files.describe(), "config.json", false});
  return m;
}

void resolve_weights(LoadedModel& m, const WeightSource& src) {
  const ModelConfig& cfg = m.config;
  // Look every tensor of the expanded table up.
  struct Entry {
    WeightSpec spec;
    std::string stored;
    FoundTensor found;
  };
  std::vector<Entry> entries;
  for (WeightSpec& e : expand_weight_table(*m.arch, cfg)) {
    std::string stored = src.stored_name(e);
    FoundTensor found = src.find(stored);
    entries.push_back({std::move(e), std::move(stored), found});
  }
  std::map<std::string, const Entry*> by_canonical;
  for (const auto& e : entries) by_canonical[e.spec.canonical] = &e;

  TensorMap tensors;
  std::set<const void*> counted;
  for (const auto& e : entries) {
    const WeightSpec& s = e.spec;
    FoundTensor f = e.found;
    // tie_word_embeddings: the LM head is the embedding matrix (transformers ties them even
    // when a file also stores lm_head.weight); a file may store either one of the pair.
    if (!s.tied_with.empty() && cfg.tie_word_embeddings) {
      const Entry* other = by_canonical.at(s.tied_with);
      if (s.canonical == "output" && other->found.tensor.data)
        f = other->found;
      else if (!f.tensor.data)
        f = other->found;
    }
    if (!f.tensor.data) {
      if (s.flags & kOptional) continue;
      throw Error(
          ErrorCode::kNotFound,
          "tensor '" + e.stored + "' (" + s.canonical + ") is missing from " + src.description +
              (!s.tied_with.empty() && !cfg.tie_word_embeddings ? " (" + src.config_name + " says tie_word_embeddings=false)" : ""));
    }
    const Tensor& t = f.tensor;
    if (!same_shape(t, s.shape))
      throw Error(ErrorCode::kShapeMismatch, *f.file + ": tensor '" + e.stored + "' has shape " + shape_string(t) + ", expected " +
                                                 shape_string(s.shape.data(), static_cast<int>(s.shape.size())) + " from " +
                                                 src.config_name);
    const bool is_float = t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16;
    if (!is_float && !src.allow_quantized)
      throw Error(ErrorCode::kUnsupported,
                  *f.file + ": tensor '" + e.stored + "' has dtype " + dtype_name(t.dtype) + ", expected F32, F16 or BF16");
    // Norm weights and biases are read as floats by every kernel.
    if (!is_float && t.ndim != 2)
      throw Error(ErrorCode::kUnsupported,
                  *f.file + ": 1-D tensor '" + e.stored + "' is " + dtype_name(t.dtype) + "; vectors must be F32, F16 or BF16");
    tensors[s.canonical] = t;
    if (counted.insert(t.data).second) {
      m.n_params += static_cast<uint64_t>(t.numel());
      m.weight_bytes += t.nbytes();
      m.params_by_dtype[dtype_name(t.dtype)] += static_cast<uint64_t>(t.numel());
    }
  }
  m.arch->bind(tensors, cfg, m.weights);
}

}  // namespace wick
