#include "backends/cpu/packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "wick/error.h"

namespace wick {

bool packable(DType dt, int64_t k) {
  if (dt == DType::F16 || dt == DType::BF16) return k > 0;
  const DTypeInfo& i = dtype_info(dt);
  return i.quantized && 256 % i.block_size == 0 && 256 / i.block_size * i.block_bytes <= 512 && k > 0 && k % i.block_size == 0;
}

PackedShape packed_shape(DType dt, int64_t rows, int64_t k, int group_rows) {
  PackedShape s;
  s.group_rows = group_rows;
  s.rows = rows;
  s.groups = (rows + group_rows - 1) / group_rows;
  s.k = k;
  if (dt == DType::F16 || dt == DType::BF16) {
    s.elem_bytes = 2;
    s.pairs = dt == DType::BF16;
    s.row_bytes = 2 * k;
    return s;
  }
  s.units = (k + 255) / 256;
  s.row_bytes = static_cast<int64_t>(dtype_row_bytes(dt, static_cast<uint64_t>(k)));
  s.unit_bytes = static_cast<int64_t>(dtype_row_bytes(dt, 256));
  s.unit_dwords = (s.unit_bytes + 3) / 4;
  return s;
}

void pack_groups(const PackedShape& s, const uint8_t* src, int64_t g0, int64_t g1, uint8_t* dst) {
  const int64_t R = s.group_rows;
  if (s.elem_bytes) {
    for (int64_t g = g0; g < g1; ++g) {
      auto* out = reinterpret_cast<uint16_t*>(dst + g * s.group_bytes());
      for (int64_t r = 0; r < R; ++r) {
        const auto* row = reinterpret_cast<const uint16_t*>(src + std::min(g * R + r, s.rows - 1) * s.row_bytes);
        if (s.pairs) {  // element j at [j / 2][r] half j % 2
          for (int64_t j = 0; j < s.k; ++j) out[(j / 2 * R + r) * 2 + j % 2] = row[j];
          if (s.k % 2) out[(s.k / 2 * R + r) * 2 + 1] = 0;
        } else {
          for (int64_t j = 0; j < s.k; ++j) out[j * R + r] = row[j];
        }
      }
    }
    return;
  }
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* out = dst + g * s.group_bytes();
    for (int64_t r = 0; r < R; ++r) {
      const uint8_t* row = src + std::min(g * R + r, s.rows - 1) * s.row_bytes;
      for (int64_t u = 0; u < s.units; ++u) {
        // The row's unit, zero past the row's end, then its dwords to lane r.
        uint32_t unit[128] = {};  // unit_bytes <= 272 (Q8_0) < 512
        const int64_t at = u * s.unit_bytes;
        std::memcpy(unit, row + at, static_cast<size_t>(std::min(s.unit_bytes, s.row_bytes - at)));
        uint8_t* base = out + u * s.unit_dwords * R * 4;
        for (int64_t i = 0; i < s.unit_dwords; ++i) std::memcpy(base + (i * R + r) * 4, &unit[i], 4);
      }
    }
  }
}

void unpack_row(const PackedShape& s, const uint8_t* packed, int64_t r, uint8_t* row) {
  const int64_t R = s.group_rows, g = r / R, lane = r % R;
  const uint8_t* in = packed + g * s.group_bytes();
  if (s.elem_bytes) {
    const auto* elems = reinterpret_cast<const uint16_t*>(in);
    auto* out = reinterpret_cast<uint16_t*>(row);
    for (int64_t j = 0; j < s.k; ++j) out[j] = s.pairs ? elems[(j / 2 * R + lane) * 2 + j % 2] : elems[j * R + lane];
    return;
  }
  for (int64_t u = 0; u < s.units; ++u) {
    uint32_t unit[128];
    const uint8_t* base = in + u * s.unit_dwords * R * 4;
    for (int64_t i = 0; i < s.unit_dwords; ++i) std::memcpy(&unit[i], base + (i * R + lane) * 4, 4);
    const int64_t at = u * s.unit_bytes;
    std::memcpy(row + at, unit, static_cast<size_t>(std::min(s.unit_bytes, s.row_bytes - at)));
  }
}

PackedMatrix::PackedMatrix(const PackedShape& shape) : shape_(shape) {
  const auto bytes = static_cast<size_t>((shape.bytes() + 63) / 64 * 64);
  data_ = static_cast<uint8_t*>(std::aligned_alloc(64, std::max<size_t>(bytes, 64)));
  if (!data_)
    throw Error(ErrorCode::kResourceExhausted, "cpu backend: cannot allocate " + std::to_string(bytes) + " bytes of packed weights");
}
PackedMatrix::~PackedMatrix() { std::free(data_); }

namespace {

// The source's whole pages back to the kernel; only for big matrices (model weights, not a
// test's small buffers), and never an error: the pages are only a cache of the file.
void page_out(const void* data, int64_t bytes) {
#ifdef MADV_PAGEOUT
  if (bytes < (int64_t{1} << 20)) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes)) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#else
  (void)data, (void)bytes;
#endif
}

}  // namespace

std::shared_ptr<const PackedMatrix> shared_packed_matrix(const Tensor& t, int group_rows, const ParallelTasks& parallel) {
  using Key = std::tuple<const void*, DType, int64_t, int64_t, int>;
  static std::mutex mutex;
  static std::map<Key, std::weak_ptr<const PackedMatrix>> packed;
  const Key key{t.data, t.dtype, t.rows(), t.cols(), group_rows};
  std::lock_guard lock(mutex);
  if (auto it = packed.find(key); it != packed.end()) {
    if (auto p = it->second.lock()) return p;
  }
  std::erase_if(packed, [](const auto& kv) { return kv.second.expired(); });
  auto p = std::make_shared<PackedMatrix>(packed_shape(t.dtype, t.rows(), t.cols(), group_rows));
  const PackedShape& s = p->shape();
  const auto* src = static_cast<const uint8_t*>(t.data);
  constexpr int64_t kGroupsPerTask = 64;
  parallel((s.groups + kGroupsPerTask - 1) / kGroupsPerTask,
           [&](int64_t task) { pack_groups(s, src, task * kGroupsPerTask, std::min(s.groups, (task + 1) * kGroupsPerTask), p->data()); });
  page_out(t.data, s.rows * s.row_bytes);
  packed[key] = p;
  return p;
}

}  // namespace wick
