// Writes GGUF version 3 files: metadata and tensor infos first, then each tensor's bytes in
// declaration order, each aligned to `general.alignment` (32). The tensor data is streamed, so
// a large model never has to sit in memory whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace wick {

class GgufWriter {
 public:
  GgufWriter();
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Metadata, written in the order given.
  void set_string(const std::string& key, const std::string& v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_strings(const std::string& key, const std::vector<std::string>& v);
  void set_f32s(const std::string& key, const std::vector<float>& v);
  void set_i32s(const std::string& key, const std::vector<int32_t>& v);
  // Low level: a key with an already-encoded value (tests use it to write odd files).
  void set_raw(const std::string& key, GgufType type, const std::vector<uint8_t>& encoded_value);

  // Declares a tensor (dims in ggml order: dims[0] is the row length).
  void add_tensor(const std::string& name, const std::vector<uint64_t>& dims, uint32_t ggml_type);

  // Opens `path` and writes everything up to the tensor data.
  void begin(const std::string& path);
  // The bytes of the next declared tensor; must be exactly its size.
  void write_tensor(const void* data, uint64_t nbytes);
  // Checks every tensor was written and closes the file. Throws wick::Error on I/O failure.
  void finish();

 private:
  template <typename T>
  void set_scalar(const std::string& key, GgufType type, T v);
  template <typename T>
  void set_array(const std::string& key, GgufType elem, const std::vector<T>& v);
  void put(const void* p, size_t n);
  std::vector<uint8_t> kv_;  // encoded metadata
  uint64_t n_kv_ = 0;
  struct Pending {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    uint64_t offset, nbytes;
  };
  std::vector<Pending> tensors_;
  uint64_t data_size_ = 0;
  size_t next_ = 0;
  uint64_t written_ = 0;  // bytes of the data section written so far
  std::string path_;
  void* file_ = nullptr;  // FILE*
};

}  // namespace wick
