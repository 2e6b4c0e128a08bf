#include "formats/gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <type_traits>

#include "wick/error.h"

namespace wick {
namespace {

constexpr uint64_t kAlignment = 32;

template <typename T>
void append(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}
void append_string(std::vector<uint8_t>& out, const std::string& s) {
  append<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}
uint64_t align_up(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

GgufWriter::GgufWriter() = default;
GgufWriter::~GgufWriter() {
  if (file_) std::fclose(static_cast<FILE*>(file_));
}

void GgufWriter::set_raw(const std::string& key, GgufType type, const std::vector<uint8_t>& encoded) {
  append_string(kv_, key);
  append<uint32_t>(kv_, static_cast<uint32_t>(type));
  kv_.insert(kv_.end(), encoded.begin(), encoded.end());
  ++n_kv_;
}

template <typename T>
void GgufWriter::set_scalar(const std::string& key, GgufType type, T v) {
  std::vector<uint8_t> e;
  append(e, v);
  set_raw(key, type, e);
}

void GgufWriter::set_string(const std::string& key, const std::string& v) {
  std::vector<uint8_t> e;
  append_string(e, v);
  set_raw(key, GgufType::kString, e);
}
void GgufWriter::set_u32(const std::string& key, uint32_t v) { set_scalar(key, GgufType::kU32, v); }
void GgufWriter::set_i32(const std::string& key, int32_t v) { set_scalar(key, GgufType::kI32, v); }
void GgufWriter::set_u64(const std::string& key, uint64_t v) { set_scalar(key, GgufType::kU64, v); }
void GgufWriter::set_f32(const std::string& key, float v) { set_scalar(key, GgufType::kF32, v); }
void GgufWriter::set_bool(const std::string& key, bool v) { set_scalar(key, GgufType::kBool, static_cast<uint8_t>(v)); }

template <typename T>
void GgufWriter::set_array(const std::string& key, GgufType elem, const std::vector<T>& v) {
  std::vector<uint8_t> e;
  append<uint32_t>(e, static_cast<uint32_t>(elem));
  append<uint64_t>(e, v.size());
  for (const T& x : v) {
    if constexpr (std::is_same_v<T, std::string>)
      append_string(e, x);
    else
      append(e, x);
  }
  set_raw(key, GgufType::kArray, e);
}

void GgufWriter::set_strings(const std::string& key, const std::vector<std::string>& v) { set_array(key, GgufType::kString, v); }
void GgufWriter::set_f32s(const std::string& key, const std::vector<float>& v) { set_array(key, GgufType::kF32, v); }
void GgufWriter::set_i32s(const std::string& key, const std::vector<int32_t>& v) { set_array(key, GgufType::kI32, v); }

void GgufWriter::add_tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t ggml_type) {
  const GgmlTypeInfo* info = ggml_type_info(ggml_type);
  if (!info) throw Error(ErrorCode::kUnsupported, "GGUF writer: unknown ggml type " + std::to_string(ggml_type));
  uint64_t elements = 1;
  for (uint64_t d : dims) elements *= d;
  if (dims.empty() || dims[0] % static_cast<uint64_t>(info->block_size) != 0)
    throw Error(ErrorCode::kInvalidArgument, "GGUF writer: tensor '" + name + "' rows are not whole " + info->name + " blocks");
  const uint64_t nbytes = elements / static_cast<uint64_t>(info->block_size) * static_cast<uint64_t>(info->type_size);
  tensors_.push_back({name, dims, ggml_type, data_size_, nbytes});
  data_size_ = align_up(data_size_ + nbytes);
}

void GgufWriter::put(const void* p, size_t n) {
  if (n && std::fwrite(p, 1, n, static_cast<FILE*>(file_)) != n) throw Error(ErrorCode::kIo, "cannot write " + path_);
}

void GgufWriter::begin(const std::string& path) {
  path_ = path;
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) throw Error(ErrorCode::kIo, "cannot create " + path);
  std::vector<uint8_t> h;
  h.insert(h.end(), {'G', 'G', 'U', 'F'});
  append<uint32_t>(h, 3);
  append<uint64_t>(h, tensors_.size());
  append<uint64_t>(h, n_kv_);
  h.insert(h.end(), kv_.begin(), kv_.end());
  for (const auto& t : tensors_) {
    append_string(h, t.name);
    append<uint32_t>(h, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) append<uint64_t>(h, d);
    append<uint32_t>(h, t.type);
    append<uint64_t>(h, t.offset);
  }
  h.resize(align_up(h.size()), 0);
  put(h.data(), h.size());
}

void GgufWriter::write_tensor(const void* data, uint64_t nbytes) {
  if (next_ >= tensors_.size()) throw Error(ErrorCode::kInternal, "GGUF writer: more tensors written than declared");
  const Pending& t = tensors_[next_++];
  if (nbytes != t.nbytes)
    throw Error(ErrorCode::kInternal,
                "GGUF writer: tensor '" + t.name + "' has " + std::to_string(t.nbytes) + " bytes, got " + std::to_string(nbytes));
  put(data, nbytes);
  static const uint8_t zeros[kAlignment] = {};
  const uint64_t pad = align_up(nbytes) - nbytes;
  put(zeros, pad);
  written_ += nbytes + pad;
}

void GgufWriter::finish() {
  if (next_ != tensors_.size())
    throw Error(ErrorCode::kInternal, "GGUF writer: " + std::to_string(tensors_.size() - next_) + " tensors not written");
  if (std::fclose(static_cast<FILE*>(file_)) != 0) {
    file_ = nullptr;
    throw Error(ErrorCode::kIo, "cannot write " + path_);
  }
  file_ = nullptr;
}

}  // namespace wick
