// The reference backend's memory: allocations in a private table, handed out as tagged
// addresses (tag | allocation id | byte offset). The tag makes every address non-canonical on
// x86-64 and AArch64, so code that dereferences one outside the backend faults at once instead
// of reading memory by accident; every access inside the backend names its extent and is
// bounds-checked against its allocation. Fresh memory is filled with 0xFF bytes (NaN floats,
// -1 integers), so reading what was never written shows up in the results.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/backend.h"

namespace wick {

class Arena {
 public:
  BufferRef alloc(size_t bytes);
  void free(BufferRef buffer);
  // The host memory behind [ref, ref + bytes); throws kInternal when that is not inside one
  // live allocation (naming the allocation, the offset and the extent).
  uint8_t* resolve(BufferRef ref, size_t bytes) const;
  template <typename T>
  T* at(BufferRef ref, int64_t count) const {
    return reinterpret_cast<T*>(resolve(ref, static_cast<size_t>(count) * sizeof(T)));
  }
  // A weight placed in the arena, as a view of the host memory behind it.
  Tensor host_view(const Tensor& placed) const;
  size_t live_bytes() const { return live_bytes_; }

 private:
  struct Allocation {
    std::unique_ptr<uint8_t[]> bytes;
    size_t size = 0;
  };
  std::vector<Allocation> allocations_;  // index = id - 1; freed ones stay as size-0 tombstones (ids are never reused)
  size_t live_bytes_ = 0;
};

}  // namespace wick
