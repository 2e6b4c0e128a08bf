#include "backends/cpu/arena.h"

#include <cstring>
#include <string>

#include "wick/error.h"

namespace wick {
namespace {

constexpr uint64_t kTag = 0xA5ull << 56;  // bits 63..56: non-canonical, a host dereference faults
constexpr int kOffsetBits = 40;           // up to 1 TiB per allocation
constexpr uint64_t kOffsetMask = (1ull << kOffsetBits) - 1;
constexpr uint64_t kMaxId = (1ull << (56 - kOffsetBits)) - 1;

}  // namespace

BufferRef Arena::alloc(size_t bytes) {
  if (allocations_.size() >= kMaxId) throw Error(ErrorCode::kResourceExhausted, "arena: out of allocation ids");
  if (bytes > kOffsetMask) throw Error(ErrorCode::kResourceExhausted, "arena: allocation of " + std::to_string(bytes) + " bytes");
  Allocation a;
  a.bytes.reset(new uint8_t[bytes == 0 ? 1 : bytes]);
  std::memset(a.bytes.get(), 0xFF, bytes);
  a.size = bytes;
  allocations_.push_back(std::move(a));
  live_bytes_ += bytes;
  return {kTag | (static_cast<uint64_t>(allocations_.size()) << kOffsetBits)};
}

void Arena::free(BufferRef buffer) {
  const uint64_t id = (buffer.addr & ~kTag) >> kOffsetBits;
  if ((buffer.addr & (0xFFull << 56)) != kTag || id == 0 || id > allocations_.size() || (buffer.addr & kOffsetMask) != 0 ||
      !allocations_[id - 1].bytes)
    throw Error(ErrorCode::kInternal, "arena: free of an address it did not allocate");
  live_bytes_ -= allocations_[id - 1].size;
  allocations_[id - 1] = Allocation{};
}

uint8_t* Arena::resolve(BufferRef ref, size_t bytes) const {
  const uint64_t id = (ref.addr & ~kTag) >> kOffsetBits;
  const uint64_t offset = ref.addr & kOffsetMask;
  if ((ref.addr & (0xFFull << 56)) != kTag)
    throw Error(ErrorCode::kInternal, "arena: address " + std::to_string(ref.addr) + " is not one of this backend's (a host pointer?)");
  if (id == 0 || id > allocations_.size() || !allocations_[id - 1].bytes)
    throw Error(ErrorCode::kInternal, "arena: allocation " + std::to_string(id) + " is not live");
  const Allocation& a = allocations_[id - 1];
  if (offset > a.size || bytes > a.size - offset)
    throw Error(ErrorCode::kInternal, "arena: access of " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) +
                                          " overruns allocation " + std::to_string(id) + " of " + std::to_string(a.size) + " bytes");
  return a.bytes.get() + offset;
}

Tensor Arena::host_view(const Tensor& placed) const {
  if (placed.empty()) return placed;
  Tensor t = placed;
  t.data = resolve({reinterpret_cast<uint64_t>(placed.data)}, placed.nbytes());
  return t;
}

}  // namespace wick
