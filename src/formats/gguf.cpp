#include "formats/gguf.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/mapped_file.h"
#include "wick/error.h"

namespace wick {
namespace {

// Limits that no real file comes near; they keep a corrupt count from driving a huge loop or
// allocation before the bytes-left check can catch it.
constexpr uint64_t kMaxKeyLength = 1 << 16;
constexpr uint64_t kMaxTensors = 1 << 20;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 2;

const GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4, DType::F32},
    {1, "F16", 1, 2, DType::F16},
    {2, "Q4_0", 32, 18, DType::Q4_0},
    {3, "Q4_1", 32, 20, DType::Q4_1},
    {6, "Q5_0", 32, 22, DType::Q5_0},
    {7, "Q5_1", 32, 24, DType::Q5_1},
    {8, "Q8_0", 32, 34, DType::Q8_0},
    {9, "Q8_1", 32, 36, std::nullopt},
    {10, "Q2_K", 256, 84, DType::Q2_K},
    {11, "Q3_K", 256, 110, DType::Q3_K},
    {12, "Q4_K", 256, 144, DType::Q4_K},
    {13, "Q5_K", 256, 176, DType::Q5_K},
    {14, "Q6_K", 256, 210, DType::Q6_K},
    {15, "Q8_K", 256, 292, std::nullopt},
    {24, "I8", 1, 1, std::nullopt},
    {25, "I16", 1, 2, std::nullopt},
    {26, "I32", 1, 4, std::nullopt},
    {27, "I64", 1, 8, std::nullopt},
    {28, "F64", 1, 8, std::nullopt},
    {30, "BF16", 1, 2, DType::BF16},
    {20, "IQ4_NL", 32, 18, DType::IQ4_NL},
    {23, "IQ4_XS", 256, 136, DType::IQ4_XS},
    // Read (sizes from ggml's block structs) so that a file holding them is refused by name.
    {16, "IQ2_XXS", 256, 66, std::nullopt},
    {17, "IQ2_XS", 256, 74, std::nullopt},
    {18, "IQ3_XXS", 256, 98, std::nullopt},
    {19, "IQ1_S", 256, 50, std::nullopt},
    {21, "IQ3_S", 256, 110, std::nullopt},
    {22, "IQ2_S", 256, 82, std::nullopt},
    {29, "IQ1_M", 256, 56, std::nullopt},
    {34, "TQ1_0", 256, 54, std::nullopt},
    {35, "TQ2_0", 256, 66, std::nullopt},
    {39, "MXFP4", 32, 17, std::nullopt},
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool: return 1;
    case GgufType::kU16:
    case GgufType::kI16: return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32: return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64: return 8;
    default: return 0;
  }
}

struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  const std::string& file;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::kCorruptFile, file + ": " + what + " (at byte " + std::to_string(pos) + " of " + std::to_string(size) + ")");
  }
  size_t left() const { return size - pos; }
  void need(uint64_t n, const char* what) const {
    if (n > left()) fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes");
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string_view string(const char* what, uint64_t max_len = UINT64_MAX) {
    const uint64_t n = read<uint64_t>(what);
    if (n > max_len) fail(std::string(what) + " of length " + std::to_string(n) + " is too long");
    need(n, what);
    std::string_view s(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    return s;
  }
};

double read_number(Reader& r, GgufType t) {
  switch (t) {
    case GgufType::kU8: return r.read<uint8_t>("u8");
    case GgufType::kI8: return r.read<int8_t>("i8");
    case GgufType::kU16: return r.read<uint16_t>("u16");
    case GgufType::kI16: return r.read<int16_t>("i16");
    case GgufType::kU32: return r.read<uint32_t>("u32");
    case GgufType::kI32: return r.read<int32_t>("i32");
    case GgufType::kF32: return r.read<float>("f32");
    case GgufType::kU64: return static_cast<double>(r.read<uint64_t>("u64"));
    case GgufType::kI64: return static_cast<double>(r.read<int64_t>("i64"));
    case GgufType::kF64: return r.read<double>("f64");
    case GgufType::kBool: {
      const uint8_t b = r.read<uint8_t>("bool");
      if (b > 1) r.fail("bool value " + std::to_string(b) + " is not 0 or 1");
      return b;
    }
    default: r.fail("not a numeric type");
  }
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

void read_value(Reader& r, GgufType type, GgufValue& v, const std::string& key, int depth) {
  v.type = type;
  if (type == GgufType::kString) {
    v.str = r.string("string value");
    return;
  }
  if (type == GgufType::kArray) {
    if (depth >= kMaxArrayDepth) r.fail("key '" + key + "': arrays nested too deeply");
    const uint32_t et = r.read<uint32_t>("array type");
    if (!valid_type(et)) r.fail("key '" + key + "': unknown array element type " + std::to_string(et));
    v.elem_type = static_cast<GgufType>(et);
    v.count = r.read<uint64_t>("array length");
    // Each element takes at least one byte (8 for strings): bound the count by the bytes left.
    const uint64_t min_elem = v.elem_type == GgufType::kString || v.elem_type == GgufType::kArray ? 8 : scalar_size(v.elem_type);
    if (v.count > r.left() / min_elem)
      r.fail("key '" + key + "': array of " + std::to_string(v.count) + " elements does not fit in the file");
    if (v.elem_type == GgufType::kString) {
      v.strings.reserve(v.count);
      for (uint64_t k = 0; k < v.count; ++k) v.strings.push_back(r.string("array string"));
    } else if (v.elem_type == GgufType::kArray) {
      for (uint64_t k = 0; k < v.count; ++k) {
        GgufValue inner;
        read_value(r, GgufType::kArray, inner, key, depth + 1);
      }
    } else {
      v.numbers.reserve(v.count);
      for (uint64_t k = 0; k < v.count; ++k) v.numbers.push_back(read_number(r, v.elem_type));
    }
    return;
  }
  // 64-bit integers are read as integers (a double would round them past 2^53).
  if (type == GgufType::kU64) {
    const uint64_t u = r.read<uint64_t>("u64");
    if (u > static_cast<uint64_t>(INT64_MAX)) r.fail("key '" + key + "': u64 value too large");
    v.i = static_cast<int64_t>(u);
    v.f = static_cast<double>(u);
    return;
  }
  if (type == GgufType::kI64) {
    v.i = r.read<int64_t>("i64");
    v.f = static_cast<double>(v.i);
    return;
  }
  v.f = read_number(r, type);
  if (v.is_integer() || type == GgufType::kBool) v.i = static_cast<int64_t>(v.f);
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "?";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kU16:
    case GgufType::kI16:
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kU64:
    case GgufType::kI64: return true;
    default: return false;
  }
}

uint32_t ggml_type_of(DType dtype) {
  for (const auto& t : kGgmlTypes)
    if (t.dtype == dtype) return t.id;
  throw Error(ErrorCode::kUnsupported, std::string("no ggml type stores ") + dtype_name(dtype));
}

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

GgufFile::~GgufFile() = default;

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = path;
  f->mapped_ = std::make_unique<MappedFile>(path);
  f->data_ = f->mapped_->data();
  f->size_ = f->mapped_->size();
  f->parse();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::from_bytes(std::vector<uint8_t> bytes, const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->name_ = name;
  f->owned_ = std::move(bytes);
  f->data_ = f->owned_.data();
  f->size_ = f->owned_.size();
  f->parse();
  return f;
}

bool GgufFile::has_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

void GgufFile::parse() {
  Reader r{data_, size_, 0, name_};
  if (size_ < 4 || std::memcmp(data_, "GGUF", 4) != 0) r.fail("not a GGUF file (bad magic)");
  r.pos = 4;
  version_ = r.read<uint32_t>("version");
  if (version_ == 1) throw Error(ErrorCode::kUnsupported, name_ + ": GGUF version 1 is not supported (only 2 and 3)");
  if (version_ != 2 && version_ != 3)
    throw Error(ErrorCode::kUnsupported, name_ + ": unknown GGUF version " + std::to_string(version_) + " (supported: 2, 3)");
  const uint64_t n_tensors = r.read<uint64_t>("tensor count");
  const uint64_t n_kv = r.read<uint64_t>("metadata count");
  // A key/value pair takes at least 13 bytes and a tensor info at least 28.
  if (n_kv > r.left() / 13) r.fail("metadata count " + std::to_string(n_kv) + " does not fit in the file");
  if (n_tensors > kMaxTensors || n_tensors > r.left() / 28)
    r.fail("tensor count " + std::to_string(n_tensors) + " is absurd for a file of this size");

  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key(r.string("metadata key", kMaxKeyLength));
    if (key.empty()) r.fail("empty metadata key");
    const uint32_t t = r.read<uint32_t>("value type");
    if (!valid_type(t)) r.fail("key '" + key + "' has unknown value type " + std::to_string(t));
    GgufValue v;
    read_value(r, static_cast<GgufType>(t), v, key, 0);
    if (!kv_.emplace(key, std::move(v)).second) r.fail("duplicate metadata key '" + key + "'");
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer() || a->i <= 0 || (a->i & (a->i - 1)) != 0 || a->i > (1 << 20))
      r.fail("general.alignment must be a power of two, got " + std::to_string(a->i));
    alignment_ = static_cast<uint64_t>(a->i);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = std::string(r.string("tensor name", kMaxKeyLength));
    const uint32_t n_dims = r.read<uint32_t>("tensor n_dims");
    if (n_dims == 0 || n_dims > kMaxDims) r.fail("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = r.read<uint64_t>("tensor dimension");
      if (n == 0 || n > (uint64_t{1} << 40) || elements > (uint64_t{1} << 42) / n)
        r.fail("tensor '" + t.name + "' has an absurd dimension " + std::to_string(n));
      elements *= n;
      t.dims.push_back(n);
    }
    t.ggml_type = r.read<uint32_t>("tensor type");
    t.offset = r.read<uint64_t>("tensor offset");
    const GgmlTypeInfo* info = ggml_type_info(t.ggml_type);
    if (!info)
      throw Error(ErrorCode::kUnsupported, name_ + ": tensor '" + t.name + "' has unknown ggml type " + std::to_string(t.ggml_type));
    if (t.dims[0] % static_cast<uint64_t>(info->block_size) != 0)
      r.fail("tensor '" + t.name + "' row of " + std::to_string(t.dims[0]) + " elements is not a whole number of " + info->name +
             " blocks");
    t.nbytes = elements / static_cast<uint64_t>(info->block_size) * static_cast<uint64_t>(info->type_size);
    if (t.offset % alignment_ != 0)
      r.fail("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(alignment_));
    tensors_.push_back(std::move(t));
  }
  data_offset_ = (r.pos + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > size_) r.fail("tensor data section starts beyond the end of the file");
  const uint64_t data_size = size_ - std::min<uint64_t>(data_offset_, size_);
  std::vector<const GgufTensorInfo*> order;
  for (const auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      r.fail("tensor '" + t.name + "' data [" + std::to_string(t.offset) + ", " + std::to_string(t.offset + t.nbytes) +
             ") lies beyond the end of the file (data section holds " + std::to_string(data_size) + " bytes)");
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < order.size(); ++k)
    if (order[k - 1]->offset + order[k - 1]->nbytes > order[k]->offset)
      r.fail("tensors '" + order[k - 1]->name + "' and '" + order[k]->name + "' overlap");
  std::vector<std::string_view> names;
  for (const auto& t : tensors_) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  if (std::adjacent_find(names.begin(), names.end()) != names.end())
    r.fail("duplicate tensor '" + std::string(*std::adjacent_find(names.begin(), names.end())) + "'");
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view n) const {
  for (const auto& t : tensors_)
    if (t.name == n) return &t;
  return nullptr;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

namespace {
[[noreturn]] void wrong_type(const std::string& file, std::string_view key, const GgufValue& v, const char* want) {
  throw Error(ErrorCode::kCorruptFile, file + ": metadata '" + std::string(key) + "' is " + gguf_type_name(v.type) +
                                           (v.type == GgufType::kArray ? std::string(" of ") + gguf_type_name(v.elem_type) : "") +
                                           ", expected " + want);
}
}  // namespace

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kString) wrong_type(name_, key, *v, "string");
  return std::string(v->str);
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) wrong_type(name_, key, *v, "an integer");
  return v->i;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name_, key, *v, "a number");
  return v->is_integer() ? static_cast<double>(v->i) : v->f;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::kBool) wrong_type(name_, key, *v, "bool");
  return v->i != 0;
}

const std::vector<std::string_view>* GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufType::kArray || v->elem_type != GgufType::kString) wrong_type(name_, key, *v, "an array of strings");
  return &v->strings;
}

const std::vector<double>* GgufFile::get_number_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return nullptr;
  if (v->type != GgufType::kArray || v->elem_type == GgufType::kString || v->elem_type == GgufType::kArray)
    wrong_type(name_, key, *v, "an array of numbers");
  return &v->numbers;
}

}  // namespace wick
