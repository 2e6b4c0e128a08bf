// GGUF (versions 2 and 3): the single-file model format of ggml / llama.cpp.
// Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count, the
// metadata key/value pairs, the tensor infos (name, n_dims, dims, ggml type, offset), padding
// to `general.alignment` (default 32), then the tensor data.
// Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
//
// The reader validates everything before anything is used: lengths against the bytes left,
// counts against what the file could hold, value types, duplicate keys, tensor dimensions,
// types, alignment and data ranges. Every error names the file (and key or tensor).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"

namespace wick {

class MappedFile;

enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata value. Strings view the file's bytes (valid while the GgufFile lives).
struct GgufValue {
  GgufType type = GgufType::kU8;
  // Scalars: integers in `i` (u64 values above INT64_MAX are rejected), floats in `f`,
  // bools in `i` (0/1), strings in `str`.
  int64_t i = 0;
  double f = 0;
  std::string_view str;
  // Arrays: element type, count, and the elements decoded (nested arrays are skipped over
  // and left empty; no tokenizer or model key uses them).
  GgufType elem_type = GgufType::kU8;
  uint64_t count = 0;
  std::vector<std::string_view> strings;  // string arrays
  std::vector<double> numbers;            // numeric / bool arrays

  bool is_integer() const;
  bool is_number() const { return is_integer() || type == GgufType::kF32 || type == GgufType::kF64; }
};

// ggml tensor types (ggml.h enum ggml_type); sizes per block of `block_size` elements.
struct GgmlTypeInfo {
  uint32_t id;
  const char* name;
  int block_size;
  int type_size;
  std::optional<DType> dtype;  // the wick dtype, where wick computes with this type
};
const GgmlTypeInfo* ggml_type_info(uint32_t id);
// The ggml type id that stores a wick dtype.
uint32_t ggml_type_of(DType dtype);

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the contiguous (row) dimension
  uint32_t ggml_type = 0;
  uint64_t offset = 0;  // relative to the data section
  uint64_t nbytes = 0;
};

class GgufFile {
 public:
  // Maps and validates the file. Throws wick::Error.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Validates a GGUF image held in memory (the parser fuzz target and tests use this).
  static std::unique_ptr<GgufFile> from_bytes(std::vector<uint8_t> bytes, const std::string& name = "<memory>");
  // True when the file at `path` starts with the GGUF magic.
  static bool has_magic(const std::string& path);
  ~GgufFile();

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::map<std::string, GgufValue, std::less<>>& metadata() const { return kv_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  const uint8_t* tensor_data(const GgufTensorInfo& t) const { return data_ + data_offset_ + t.offset; }

  // Typed metadata access. find() returns nullptr when absent; the get_* helpers throw an
  // error naming the key when it is present with the wrong type.
  const GgufValue* find(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  // Arrays: element type checked; nullptr when absent.
  const std::vector<std::string_view>* get_string_array(std::string_view key) const;
  const std::vector<double>* get_number_array(std::string_view key) const;

 private:
  GgufFile() = default;
  void parse();

  std::string name_;
  std::unique_ptr<MappedFile> mapped_;
  std::vector<uint8_t> owned_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue, std::less<>> kv_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace wick
