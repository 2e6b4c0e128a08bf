#include "wick/energy_head.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "backends/backend.h"
#include "backends/devices.h"
#include "core/dtype.h"
#include "formats/safetensors.h"

namespace wick {
namespace {

using json = nlohmann::json;

Activation activation_of(const std::string& name) {
  if (const auto act = activation_from_name(name)) return *act;
  throw Error(ErrorCode::kUnsupported, "energy head: unknown activation '" + name + "' (known: silu, relu, gelu, gelu_pytorch_tanh)");
}

// "bfloat16" / "bf16" / "BF16" -> "BF16", as ModelInfo names dtypes.
std::string canonical_dtype(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "bfloat16" || s == "bf16") return "BF16";
  if (s == "float16" || s == "fp16" || s == "f16" || s == "half") return "F16";
  if (s == "float32" || s == "fp32" || s == "f32" || s == "float") return "F32";
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

EnergyHeadConfig parse_config(const json& j, const std::string& file) {
  auto fail = [&](const std::string& what) { throw Error(ErrorCode::kInvalidArgument, file + ": " + what); };
  if (!j.is_object()) fail("not a JSON object");
  if (j.value("format", "") != "wick-energy-head") fail("\"format\" must be \"wick-energy-head\"");
  EnergyHeadConfig c;
  if (!j.contains("input_dim") || !j["input_dim"].is_number_integer() || j["input_dim"].get<int64_t>() <= 0 ||
      j["input_dim"].get<int64_t>() > (1 << 20))
    fail("\"input_dim\" must be a positive integer");
  c.input_dim = j["input_dim"].get<int>();
  if (j.contains("hidden")) {
    if (!j["hidden"].is_array()) fail("\"hidden\" must be a list of widths");
    for (const auto& h : j["hidden"]) {
      if (!h.is_number_integer() || h.get<int64_t>() <= 0 || h.get<int64_t>() > (1 << 20))
        fail("\"hidden\" widths must be positive integers");
      c.hidden.push_back(h.get<int>());
    }
  }
  c.activation = j.value("activation", "silu");
  activation_of(c.activation);
  c.layer_norm = j.value("layer_norm", false);
  c.layer_norm_eps = j.value("layer_norm_eps", 1e-5);
  const std::string pooling = j.value("pooling", "mean");
  auto p = parse_pooling(pooling);
  if (!p) fail(p.error().what());
  c.pooling = p.value();
  c.normalize_input = j.value("normalize_input", false);
  c.embedding_dtype = j.value("embedding_dtype", "");
  c.template_text = j.value("template", "{state}");
  return c;
}

}  // namespace

struct EnergyHead::Impl {
  EnergyHeadConfig cfg;
  std::unique_ptr<SafetensorsFile> file;
  std::unique_ptr<Backend> backend;
  std::vector<BackendBuffer> placed;                    // the tensors below, if the backend does not read host memory
  std::vector<Tensor> weights, biases, norm_w, norm_b;  // per layer (norms: hidden layers only), placed on the backend
  mutable std::mutex mu;
  mutable BackendBuffer activations;  // [2, rows, widest], grown to the largest batch seen
  mutable int rows = 0;
  mutable std::vector<float> staging;  // the input rows (normalized) on the host
  int widest = 0;
};

EnergyHead::EnergyHead(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EnergyHead::~EnergyHead() = default;

const EnergyHeadConfig& EnergyHead::config() const { return impl_->cfg; }

Result<std::unique_ptr<EnergyHead>> EnergyHead::load(const std::string& dir, int n_threads, const std::string& device) {
  return capture_errors([&] {
    const std::string cfg_path = dir + "/head.json";
    std::ifstream f(cfg_path);
    if (!f) throw Error(ErrorCode::kNotFound, "energy head: cannot read " + cfg_path);
    json j = json::parse(f, nullptr, false);
    if (j.is_discarded()) throw Error(ErrorCode::kCorruptFile, cfg_path + ": invalid JSON");
    auto impl = std::make_unique<Impl>();
    impl->cfg = parse_config(j, cfg_path);
    impl->file = std::make_unique<SafetensorsFile>(dir + "/head.safetensors");
    const EnergyHeadConfig& c = impl->cfg;
    std::vector<int> dims = {c.input_dim};
    dims.insert(dims.end(), c.hidden.begin(), c.hidden.end());
    dims.push_back(1);
    impl->backend = make_backend(device, n_threads);
    auto need = [&](const std::string& name, std::vector<int64_t> shape) {
      const Tensor* t = impl->file->find(name);
      if (!t) throw Error(ErrorCode::kNotFound, impl->file->path() + ": missing tensor '" + name + "'");
      if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
        throw Error(ErrorCode::kUnsupported, impl->file->path() + ": tensor '" + name + "' must be F32, F16 or BF16");
      const bool ok = t->ndim == static_cast<int>(shape.size()) && std::equal(shape.begin(), shape.end(), t->shape.begin());
      if (!ok)
        throw Error(ErrorCode::kShapeMismatch, impl->file->path() + ": tensor '" + name + "' has shape " + shape_string(*t) +
                                                   ", expected " + shape_string(shape.data(), static_cast<int>(shape.size())));
      return impl->backend->place_weight(*t, impl->placed);
    };
    for (size_t l = 0; l + 1 < dims.size(); ++l) {
      const std::string p = "layers." + std::to_string(l) + ".";
      impl->weights.push_back(need(p + "weight", {dims[l + 1], dims[l]}));
      impl->biases.push_back(need(p + "bias", {dims[l + 1]}));
      if (c.layer_norm && l + 2 < dims.size()) {
        const std::string q = "norms." + std::to_string(l) + ".";
        impl->norm_w.push_back(need(q + "weight", {dims[l + 1]}));
        impl->norm_b.push_back(need(q + "bias", {dims[l + 1]}));
      }
      impl->widest = std::max({impl->widest, dims[l], dims[l + 1]});
    }
    return std::unique_ptr<EnergyHead>(new EnergyHead(std::move(impl)));
  });
}

Result<std::vector<float>> EnergyHead::energies(const float* x, int n) const {
  return capture_errors([&] {
    const Impl& s = *impl_;
    std::lock_guard<std::mutex> lock(s.mu);
    std::vector<float> out(static_cast<size_t>(n));
    if (n == 0) return out;
    const EnergyHeadConfig& c = s.cfg;
    s.backend->reserve(s.widest, 1, n);
    // [n, width] activations, ping-ponged between two halves of one backend buffer.
    const int64_t half_bytes = static_cast<int64_t>(n) * s.widest * 4;
    if (n > s.rows) {
      s.activations = BackendBuffer(*s.backend, static_cast<size_t>(2 * half_bytes));
      s.rows = n;
    }
    BufferRef a = s.activations.ref(), b = s.activations.ref(static_cast<int64_t>(s.rows) * s.widest * 4);
    s.staging.assign(x, x + static_cast<int64_t>(n) * c.input_dim);
    if (c.normalize_input)
      for (int r = 0; r < n; ++r) {
        float* row = s.staging.data() + static_cast<int64_t>(r) * c.input_dim;
        double ss = 0;
        for (int i = 0; i < c.input_dim; ++i) ss += static_cast<double>(row[i]) * row[i];
        const double inv = ss > 0 ? 1.0 / std::sqrt(ss) : 0.0;
        for (int i = 0; i < c.input_dim; ++i) row[i] = static_cast<float>(row[i] * inv);
      }
    s.backend->upload(a, s.staging.data(), s.staging.size() * sizeof(float));
    const Activation act = activation_of(c.activation);
    for (size_t l = 0; l < s.weights.size(); ++l) {
      const int out_dim = static_cast<int>(s.weights[l].rows());
      s.backend->matmul(b, a, n, s.weights[l], &s.biases[l]);  // b: [n, out_dim]
      if (l + 1 < s.weights.size()) {
        if (c.layer_norm) {
          s.backend->layer_norm(a, b, n, out_dim, s.norm_w[l], &s.norm_b[l], static_cast<float>(c.layer_norm_eps));
          std::swap(a, b);
        }
        s.backend->activation(b, static_cast<int64_t>(n) * out_dim, act);
      }
      std::swap(a, b);
    }
    s.backend->download(out.data(), a, static_cast<size_t>(n) * sizeof(float));  // [n, 1]
    for (int r = 0; r < n; ++r) {
      if (!std::isfinite(out[static_cast<size_t>(r)]))
        throw Error(ErrorCode::kInternal, "energy head: embedding " + std::to_string(r) + " gave a non-finite energy");
    }
    return out;
  });
}

Result<std::vector<float>> EnergyHead::energies(const std::vector<std::vector<float>>& e) const {
  return capture_errors([&] {
    const int d = impl_->cfg.input_dim;
    std::vector<float> flat;
    flat.reserve(e.size() * static_cast<size_t>(d));
    for (size_t i = 0; i < e.size(); ++i) {
      if (static_cast<int>(e[i].size()) != d)
        throw Error(ErrorCode::kShapeMismatch, "energy head: embedding " + std::to_string(i) + " has " + std::to_string(e[i].size()) +
                                                   " values, the head takes " + std::to_string(d));
      flat.insert(flat.end(), e[i].begin(), e[i].end());
    }
    auto r = energies(flat.data(), static_cast<int>(e.size()));
    if (!r) throw r.error();
    return std::move(r.value());
  });
}

Result<bool> EnergyHead::check_model(const Model& model) const {
  if (model.config().hidden_size != impl_->cfg.input_dim)
    return Error(ErrorCode::kShapeMismatch, "the energy head takes " + std::to_string(impl_->cfg.input_dim) +
                                                "-wide embeddings, the model's hidden size is " +
                                                std::to_string(model.config().hidden_size));
  return true;
}

std::string EnergyHead::dtype_warning(const Model& model) const {
  if (impl_->cfg.embedding_dtype.empty()) return "";
  // The model's dtype: that of most of its parameters.
  std::string dtype;
  uint64_t most = 0;
  for (const auto& [name, count] : model.info().params_by_dtype)
    if (count > most) most = count, dtype = name;
  const std::string want = canonical_dtype(impl_->cfg.embedding_dtype);
  if (dtype.empty() || canonical_dtype(dtype) == want) return "";
  return "the energy head was trained on embeddings of a " + want + " model, this model's weights are " + dtype +
         ": its embeddings differ slightly and the energies may be off (load the model in " + want + ")";
}

Result<bool> write_random_energy_head(const std::string& dir, const EnergyHeadConfig& c, uint64_t seed) {
  return capture_errors([&] {
    std::filesystem::create_directories(dir);
    json j = {{"format", "wick-energy-head"},
              {"input_dim", c.input_dim},
              {"hidden", c.hidden},
              {"activation", c.activation},
              {"layer_norm", c.layer_norm},
              {"layer_norm_eps", c.layer_norm_eps},
              {"pooling", c.pooling == Pooling::kMean ? "mean" : "last"},
              {"normalize_input", c.normalize_input},
              {"embedding_dtype", c.embedding_dtype},
              {"template", c.template_text}};
    std::ofstream(dir + "/head.json") << j.dump(2) << "\n";
    std::mt19937_64 rng(seed);
    std::vector<int> dims = {c.input_dim};
    dims.insert(dims.end(), c.hidden.begin(), c.hidden.end());
    dims.push_back(1);
    std::vector<TensorToWrite> tensors;
    auto add = [&](const std::string& name, std::vector<int64_t> shape, double scale, double offset) {
      TensorToWrite t;
      t.name = name;
      t.dtype = DType::F32;
      t.shape = shape;
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      t.bytes.resize(static_cast<size_t>(n) * 4);
      std::uniform_real_distribution<double> u(-scale, scale);
      for (int64_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(offset + u(rng));
        std::memcpy(t.bytes.data() + i * 4, &v, 4);
      }
      tensors.push_back(std::move(t));
    };
    for (size_t l = 0; l + 1 < dims.size(); ++l) {
      const double scale = 1.0 / std::sqrt(static_cast<double>(dims[l]));  // torch.nn.Linear's init range
      add("layers." + std::to_string(l) + ".weight", {dims[l + 1], dims[l]}, scale, 0.0);
      add("layers." + std::to_string(l) + ".bias", {dims[l + 1]}, scale, 0.0);
      if (c.layer_norm && l + 2 < dims.size()) {
        add("norms." + std::to_string(l) + ".weight", {dims[l + 1]}, 0.1, 1.0);
        add("norms." + std::to_string(l) + ".bias", {dims[l + 1]}, 0.1, 0.0);
      }
    }
    write_safetensors(dir + "/head.safetensors", tensors);
    return true;
  });
}

}  // namespace wick
