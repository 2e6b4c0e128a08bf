// safetensors: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to the start of the data section.
// Spec: https://github.com/huggingface/safetensors (README, "Format").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace wick {

class SafetensorsFile {
 public:
  // Maps and validates the whole header; every error names the file (and tensor).
  explicit SafetensorsFile(const std::string& path);
  // Validates a safetensors image held in memory (the parser fuzz target uses this).
  SafetensorsFile(std::vector<uint8_t> bytes, const std::string& name);

  const std::string& path() const { return name_; }
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const Tensor* find(const std::string& name) const;

 private:
  void parse(const uint8_t* base, uint64_t size);
  std::string name_;
  std::unique_ptr<MappedFile> file_;
  std::vector<uint8_t> owned_;
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Streams a safetensors file: the header is written up front from the tensor list, then each
// tensor's bytes in order (so huge random models never sit in memory whole).
class SafetensorsWriter {
 public:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  SafetensorsWriter(const std::string& path, std::vector<Entry> entries, const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();
  // Bytes of the next tensor; must be exactly its size.
  void write_next(const void* data, uint64_t nbytes);
  void finish();

 private:
  std::string path_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> sizes_;
  size_t next_ = 0;
  void* file_ = nullptr;  // FILE*
};

// Writes a safetensors file (header padded to 8 bytes, tensors in the given order).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace wick
