#include "formats/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "wick/error.h"

namespace wick {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit

[[noreturn]] void corrupt(const std::string& path, const std::string& what) { throw Error(ErrorCode::kCorruptFile, path + ": " + what); }

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : name_(path), file_(std::make_unique<MappedFile>(path)) {
  parse(file_->data(), file_->size());
}

SafetensorsFile::SafetensorsFile(std::vector<uint8_t> bytes, const std::string& name) : name_(name), owned_(std::move(bytes)) {
  parse(owned_.data(), owned_.size());
}

void SafetensorsFile::parse(const uint8_t* base, uint64_t size) {
  const std::string& path = name_;
  if (size < 8) corrupt(path, "file is " + std::to_string(size) + " bytes, too short for a safetensors header");
  uint64_t header_len = 0;
  std::memcpy(&header_len, base, 8);  // little-endian on every platform we build for
  if (header_len > kMaxHeaderBytes) corrupt(path, "header length " + std::to_string(header_len) + " exceeds the 100 MiB limit");
  if (header_len > size - 8)
    corrupt(path, "header length " + std::to_string(header_len) + " goes beyond the end of the file (" + std::to_string(size) + " bytes)");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + data_start);
  } catch (const nlohmann::json::exception& e) {
    corrupt(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) corrupt(path, "header is not a JSON object");

  struct Span {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) corrupt(path, "__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m)
        if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object()) corrupt(path, where + " is not an object");
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string()) corrupt(path, where + " has no dtype");
    if (sh == entry.end() || !sh->is_array()) corrupt(path, where + " has no shape");
    if (off == entry.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      corrupt(path, where + " has no valid data_offsets [begin, end]");
    const std::string dtype_str = dt->get<std::string>();
    const auto dtype = dtype_from_safetensors(dtype_str);
    if (!dtype) throw Error(ErrorCode::kUnsupported, path + ": " + where + " has dtype " + dtype_str + ", supported: F32, F16, BF16");
    if (sh->size() > 4) corrupt(path, where + " has " + std::to_string(sh->size()) + " dimensions (at most 4 supported)");
    Tensor t;
    t.dtype = *dtype;
    t.ndim = static_cast<int>(sh->size());
    uint64_t numel = 1;
    for (int i = 0; i < t.ndim; ++i) {
      const auto& d = (*sh)[static_cast<size_t>(i)];
      if (!d.is_number_unsigned()) corrupt(path, where + " has a negative or non-integer dimension");
      const uint64_t v = d.get<uint64_t>();
      if (v > (1ull << 40) || (v != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / v))
        corrupt(path, where + " has an absurd shape");
      numel *= v;
      t.shape[static_cast<size_t>(i)] = static_cast<int64_t>(v);
    }
    const uint64_t begin = (*off)[0].get<uint64_t>();
    const uint64_t end = (*off)[1].get<uint64_t>();
    if (begin > end) corrupt(path, where + " has data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data_size)
      corrupt(path, where + " data [" + std::to_string(begin) + ", " + std::to_string(end) + ") goes beyond the data section (" +
                        std::to_string(data_size) + " bytes; file truncated?)");
    const uint64_t expected = dtype_row_bytes(t.dtype, numel);
    if (end - begin != expected)
      corrupt(path, where + " of shape " + shape_string(t) + " " + dtype_str + " needs " + std::to_string(expected) +
                        " bytes but data_offsets span " + std::to_string(end - begin));
    const uint64_t elem = static_cast<uint64_t>(dtype_info(t.dtype).block_bytes);
    if ((data_start + begin) % elem != 0) corrupt(path, where + " data is not aligned to its " + std::to_string(elem) + "-byte elements");
    t.data = base + data_start + begin;
    if (begin != end) spans.push_back({begin, end, &it.key()});
    tensors_.emplace(name, t);
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      corrupt(path, "data of tensors '" + *spans[i - 1].name + "' and '" + *spans[i].name + "' overlap");
}

const Tensor* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

SafetensorsWriter::SafetensorsWriter(const std::string& path, std::vector<Entry> entries,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path), entries_(std::move(entries)) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : entries_) {
    uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<uint64_t>(d);
    const uint64_t nbytes = dtype_row_bytes(t.dtype, numel);
    header[t.name] = {{"dtype", dtype_to_safetensors(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + nbytes}}};
    sizes_.push_back(nbytes);
    offset += nbytes;
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text.push_back(' ');
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(ErrorCode::kIo, "cannot write " + path);
  file_ = f;
  const uint64_t len = text.size();
  if (std::fwrite(&len, 8, 1, f) != 1 || std::fwrite(text.data(), 1, text.size(), f) != text.size())
    throw Error(ErrorCode::kIo, "error writing " + path);
}

SafetensorsWriter::~SafetensorsWriter() {
  if (file_) std::fclose(static_cast<FILE*>(file_));
}

void SafetensorsWriter::write_next(const void* data, uint64_t nbytes) {
  if (next_ >= entries_.size() || sizes_[next_] != nbytes)
    throw Error(ErrorCode::kInvalidArgument, path_ + ": tensor bytes do not match the header");
  if (std::fwrite(data, 1, nbytes, static_cast<FILE*>(file_)) != nbytes) throw Error(ErrorCode::kIo, "error writing " + path_);
  ++next_;
}

void SafetensorsWriter::finish() {
  if (next_ != entries_.size()) throw Error(ErrorCode::kInternal, path_ + ": not every tensor was written");
  if (std::fclose(static_cast<FILE*>(file_)) != 0) throw Error(ErrorCode::kIo, "error closing " + path_);
  file_ = nullptr;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsWriter::Entry> entries;
  for (const auto& t : tensors) entries.push_back({t.name, t.dtype, t.shape});
  SafetensorsWriter w(path, entries, metadata);
  for (const auto& t : tensors) w.write_next(t.bytes.data(), t.bytes.size());
  w.finish();
}

}  // namespace wick
