#include "backends/cpu/packed_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "core/host_memory.h"
#include "core/quant.h"
#include "wick/error.h"

namespace wick {

bool packable(DType dt, int64_t k) {
  if (dt == DType::F16 || dt == DType::BF16 || dt == DType::F32) return k > 0;
  const DTypeInfo& i = dtype_info(dt);
  return i.quantized && 256 % i.block_size == 0 && 256 / i.block_size * i.block_bytes <= 512 && k > 0 && k % i.block_size == 0;
}

namespace {
constexpr UnitRegroup kQ5KRegroup{kQ5KUnitDwords, q5k_pack_unit, q5k_unpack_unit};
constexpr UnitRegroup kQ6KRegroup{kQ6KUnitDwords, q6k_pack_unit, q6k_unpack_unit};
}  // namespace

PackedShape packed_shape(DType dt, int64_t rows, int64_t k, int group_rows) {
  PackedShape s;
  s.group_rows = group_rows;
  s.rows = rows;
  s.groups = (rows + group_rows - 1) / group_rows;
  s.k = k;
  if (dt == DType::F16 || dt == DType::BF16 || dt == DType::F32) {
    s.elem_bytes = dt == DType::F32 ? 4 : 2;
    s.pairs = dt == DType::BF16;
    s.row_bytes = s.elem_bytes * k;
    return s;
  }
  s.units = (k + 255) / 256;
  s.row_bytes = static_cast<int64_t>(dtype_row_bytes(dt, static_cast<uint64_t>(k)));
  s.unit_bytes = static_cast<int64_t>(dtype_row_bytes(dt, 256));
  s.unit_dwords = (s.unit_bytes + 3) / 4;
  switch (dt) {  // core/quant.h's blocks of 32 values: header, fifth bits, codes
    case DType::Q4_0:
    case DType::IQ4_NL: s.block_head = 2, s.block_codes = 16; break;
    case DType::Q4_1: s.block_head = 4, s.block_codes = 16; break;
    case DType::Q5_0: s.block_head = 2, s.block_qh = 4, s.block_codes = 16; break;
    case DType::Q5_1: s.block_head = 4, s.block_qh = 4, s.block_codes = 16; break;
    case DType::Q8_0: s.block_head = 2, s.block_codes = 32; break;
    case DType::Q5_K: s.regroup = &kQ5KRegroup; break;
    case DType::Q6_K: s.regroup = &kQ6KRegroup; break;
    default: break;
  }
  if (s.regroup && s.unit_dwords != s.regroup->dwords)
    throw Error(ErrorCode::kInternal,
                std::string("packed weights: ") + dtype_name(dt) + " unit of " + std::to_string(s.unit_dwords) + " dwords");
  if (s.block_codes && s.block_head + s.block_qh + s.block_codes != static_cast<int>(dtype_info(dt).block_bytes))
    throw Error(ErrorCode::kInternal, std::string("packed weights: block layout of ") + dtype_name(dt));
  const int64_t last_blocks = (k - (s.units - 1) * 256) / dtype_info(dt).block_size;  // blocks in a row's last unit
  s.last_unit_dwords = s.block_codes && last_blocks * dtype_info(dt).block_size < 256
                           ? planar_unit_dwords(s.block_head, s.block_qh, s.block_codes, last_blocks)
                           : s.unit_dwords;
  return s;
}

namespace {

// qh' bit 8 b + i = qh bit 4 i + b (packed_weights.h); spread = false undoes it.
uint32_t spread_fifth_bits(uint32_t w, bool spread) {
  uint32_t out = 0;
  for (int i = 0; i < 8; ++i)
    for (int b = 0; b < 4; ++b) {
      const int file = 4 * i + b, planar = 8 * b + i;
      out |= ((w >> (spread ? file : planar)) & 1u) << (spread ? planar : file);
    }
  return out;
}

// A unit of 8 blocks of 32 values (unit_bytes, in the file's order) made planar: headers,
// fifth-bit words (spread), codes; to_planar = false undoes it.
void planar_unit(const PackedShape& s, const uint8_t* in, uint8_t* out, bool to_planar) {
  const int head = s.block_head, qh = s.block_qh, codes = s.block_codes, block = head + qh + codes;
  auto move = [&](int at_block, int at_planar, int bytes) {
    if (bytes <= 0) return;
    std::memcpy(out + (to_planar ? at_planar : at_block), in + (to_planar ? at_block : at_planar), static_cast<size_t>(bytes));
  };
  for (int c = 0; c < 8; ++c) {
    move(block * c, head * c, head);
    if (qh) {
      move(block * c + head, 8 * head + 4 * c, 4);
      uint8_t* w = out + (to_planar ? 8 * head + 4 * c : block * c + head);
      uint32_t v;
      std::memcpy(&v, w, 4);
      v = spread_fifth_bits(v, to_planar);
      std::memcpy(w, &v, 4);
    }
    move(block * c + head + qh, 8 * (head + qh) + codes * c, codes);
  }
}

// BlockQ5_K's fields within a unit's 176 bytes, BlockQ6_K's within 210 (core/quant.h).
constexpr int kQ5KScales = offsetof(BlockQ5_K, scales), kQ5KQh = offsetof(BlockQ5_K, qh), kQ5KQs = offsetof(BlockQ5_K, qs);
constexpr int kQ6KQl = offsetof(BlockQ6_K, ql), kQ6KQh = offsetof(BlockQ6_K, qh), kQ6KScales = offsetof(BlockQ6_K, scales),
              kQ6KD = offsetof(BlockQ6_K, d);

}  // namespace

void q5k_pack_unit(const uint8_t* file, uint32_t* packed) {
  auto* out = reinterpret_cast<uint8_t*>(packed);
  std::memcpy(out, file, 4);  // d, dmin
  std::memcpy(out + 4 * q5k_packed_scales(0), file + kQ5KScales, 12);
  for (int l = 0; l < 32; ++l) {
    int c[8];
    for (int j = 0; j < 8; ++j) c[j] = (file[kQ5KQs + 32 * (j / 2) + l] >> 4 * (j % 2) & 15) | (file[kQ5KQh + l] >> j & 1) << 4;
    int e = 0;
    for (int j = 0; j < 4; ++j) {
      out[4 * q5k_packed_a(j, 0) + l] = static_cast<uint8_t>(c[j] | (c[4 + j] & 7) << 5);
      e |= (c[4 + j] >> 3) << 2 * j;
    }
    out[4 * q5k_packed_e(0) + l] = static_cast<uint8_t>(e);
  }
}

void q5k_unpack_unit(const uint32_t* packed, uint8_t* file) {
  const auto* in = reinterpret_cast<const uint8_t*>(packed);
  std::memcpy(file, in, 4);
  std::memcpy(file + kQ5KScales, in + 4 * q5k_packed_scales(0), 12);
  for (int l = 0; l < 32; ++l) {
    int c[8];
    const int e = in[4 * q5k_packed_e(0) + l];
    for (int j = 0; j < 4; ++j) {
      const int a = in[4 * q5k_packed_a(j, 0) + l];
      c[j] = a & 31;
      c[4 + j] = a >> 5 | (e >> 2 * j & 3) << 3;
    }
    int qh = 0;
    for (int j = 0; j < 8; ++j) qh |= (c[j] >> 4) << j;
    file[kQ5KQh + l] = static_cast<uint8_t>(qh);
    for (int p = 0; p < 4; ++p) file[kQ5KQs + 32 * p + l] = static_cast<uint8_t>((c[2 * p] & 15) | (c[2 * p + 1] & 15) << 4);
  }
}

void q6k_pack_unit(const uint8_t* file, uint32_t* packed) {
  auto* out = reinterpret_cast<uint8_t*>(packed);
  std::memset(out, 0, 4 * kQ6KUnitDwords);
  std::memcpy(out + 4 * q6k_packed_d(), file + kQ6KD, 2);
  for (int w = 0; w < 4; ++w) std::memcpy(out + 4 * q6k_packed_scales(2 * w), file + kQ6KScales + 4 * w, 4);
  for (int p = 0; p < 2; ++p)
    for (int l = 0; l < 32; ++l) {
      const int ql0 = file[kQ6KQl + 64 * p + l], ql1 = file[kQ6KQl + 64 * p + 32 + l], qh = file[kQ6KQh + 32 * p + l];
      const int c0 = (ql0 & 15) | (qh & 3) << 4, c1 = (ql1 & 15) | (qh >> 2 & 3) << 4;
      const int c2 = (ql0 >> 4) | (qh >> 4 & 3) << 4, c3 = (ql1 >> 4) | (qh >> 6 & 3) << 4;
      out[4 * q6k_packed_x(p, 0) + l] = static_cast<uint8_t>(c0 | (c2 >> 4) << 6);
      out[4 * q6k_packed_y(p, 0) + l] = static_cast<uint8_t>(c1 | (c3 >> 4) << 6);
      out[4 * q6k_packed_z(p, 0) + l] = static_cast<uint8_t>((c2 & 15) | (c3 & 15) << 4);
    }
}

void q6k_unpack_unit(const uint32_t* packed, uint8_t* file) {
  const auto* in = reinterpret_cast<const uint8_t*>(packed);
  std::memcpy(file + kQ6KD, in + 4 * q6k_packed_d(), 2);
  for (int w = 0; w < 4; ++w) std::memcpy(file + kQ6KScales + 4 * w, in + 4 * q6k_packed_scales(2 * w), 4);
  for (int p = 0; p < 2; ++p)
    for (int l = 0; l < 32; ++l) {
      const int x = in[4 * q6k_packed_x(p, 0) + l], y = in[4 * q6k_packed_y(p, 0) + l], z = in[4 * q6k_packed_z(p, 0) + l];
      const int c0 = x & 63, c1 = y & 63, c2 = (z & 15) | (x >> 6) << 4, c3 = (z >> 4) | (y >> 6) << 4;
      file[kQ6KQl + 64 * p + l] = static_cast<uint8_t>((c0 & 15) | (c2 & 15) << 4);
      file[kQ6KQl + 64 * p + 32 + l] = static_cast<uint8_t>((c1 & 15) | (c3 & 15) << 4);
      file[kQ6KQh + 32 * p + l] = static_cast<uint8_t>(c0 >> 4 | (c1 >> 4) << 2 | (c2 >> 4) << 4 | (c3 >> 4) << 6);
    }
}

namespace {

// Float rows (E: the element's bits, 2 or 4 bytes): element j of row r at [j][r] of its group;
// BF16 (s.pairs) in pairs, element j at [j / 2][r] half j % 2, an odd k's last pair zero-padded.
template <class E>
void pack_float_groups(const PackedShape& s, const uint8_t* src, int64_t g0, int64_t g1, uint8_t* dst) {
  const int64_t R = s.group_rows;
  for (int64_t g = g0; g < g1; ++g) {
    auto* out = reinterpret_cast<E*>(dst + g * s.group_bytes());
    for (int64_t r = 0; r < R; ++r) {
      const auto* row = reinterpret_cast<const E*>(src + std::min(g * R + r, s.rows - 1) * s.row_bytes);
      if (s.pairs) {
        for (int64_t j = 0; j < s.k; ++j) out[(j / 2 * R + r) * 2 + j % 2] = row[j];
        if (s.k % 2) out[(s.k / 2 * R + r) * 2 + 1] = 0;
      } else {
        for (int64_t j = 0; j < s.k; ++j) out[j * R + r] = row[j];
      }
    }
  }
}
template <class E>
void unpack_float_row(const PackedShape& s, const uint8_t* group, int64_t lane, uint8_t* row) {
  const int64_t R = s.group_rows;
  const auto* elems = reinterpret_cast<const E*>(group);
  auto* out = reinterpret_cast<E*>(row);
  for (int64_t j = 0; j < s.k; ++j) out[j] = s.pairs ? elems[(j / 2 * R + lane) * 2 + j % 2] : elems[j * R + lane];
}

}  // namespace

void pack_groups(const PackedShape& s, const uint8_t* src, int64_t g0, int64_t g1, uint8_t* dst) {
  const int64_t R = s.group_rows;
  if (s.elem_bytes == 4) return pack_float_groups<uint32_t>(s, src, g0, g1, dst);  // F32
  if (s.elem_bytes) return pack_float_groups<uint16_t>(s, src, g0, g1, dst);       // F16 / BF16
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* out = dst + g * s.group_bytes();
    for (int64_t r = 0; r < R; ++r) {
      const uint8_t* row = src + std::min(g * R + r, s.rows - 1) * s.row_bytes;
      for (int64_t u = 0; u < s.units; ++u) {
        // The row's unit's dwords to lane r; a unit whose bytes end short of its last dword (a
        // partial unit; unit_bytes not a multiple of 4) through a copy zeroed past them.
        const int64_t at = u * s.unit_bytes, have = std::min(s.unit_bytes, s.row_bytes - at);
        const uint8_t* from = row + at;
        uint32_t unit[128], planar[128];  // unit_bytes <= 512 (packable)
        if (have < s.unit_dwords * 4) {
          std::memset(unit, 0, sizeof unit);
          std::memcpy(unit, from, std::min(sizeof unit, static_cast<size_t>(std::max<int64_t>(have, 0))));
          from = reinterpret_cast<const uint8_t*>(unit);
        }
        if (s.block_codes) {
          planar_unit(s, from, reinterpret_cast<uint8_t*>(planar), true);
          from = reinterpret_cast<const uint8_t*>(planar);
        } else if (s.regroup) {
          s.regroup->pack(from, planar);
          from = reinterpret_cast<const uint8_t*>(planar);
        }
        uint8_t* base = out + u * s.unit_dwords * R * 4 + r * 4;
        const int64_t stored = u + 1 < s.units ? s.unit_dwords : s.last_unit_dwords;
        for (int64_t i = 0; i < stored; ++i) std::memcpy(base + i * R * 4, from + i * 4, 4);
      }
    }
  }
}

void unpack_row(const PackedShape& s, const uint8_t* packed, int64_t r, uint8_t* row) {
  const int64_t R = s.group_rows, g = r / R, lane = r % R;
  const uint8_t* in = packed + g * s.group_bytes();
  if (s.elem_bytes == 4) return unpack_float_row<uint32_t>(s, in, lane, row);
  if (s.elem_bytes) return unpack_float_row<uint16_t>(s, in, lane, row);
  for (int64_t u = 0; u < s.units; ++u) {
    uint32_t unit[128] = {}, blocks[128];  // a partial last unit's dwords past those stored: zero
    const uint8_t* base = in + u * s.unit_dwords * R * 4;
    const int64_t stored = u + 1 < s.units ? s.unit_dwords : s.last_unit_dwords;
    for (int64_t i = 0; i < stored; ++i) std::memcpy(&unit[i], base + (i * R + lane) * 4, 4);
    const uint32_t* from = unit;
    if (s.block_codes) {
      planar_unit(s, reinterpret_cast<const uint8_t*>(unit), reinterpret_cast<uint8_t*>(blocks), false);
      from = blocks;
    } else if (s.regroup) {
      s.regroup->unpack(unit, reinterpret_cast<uint8_t*>(blocks));
      from = blocks;
    }
    const int64_t at = u * s.unit_bytes;
    std::memcpy(row + at, from, static_cast<size_t>(std::min(s.unit_bytes, s.row_bytes - at)));
  }
}

PackedMatrix::PackedMatrix(const PackedShape& shape) : shape_(shape) {
  // Big matrices on 2 MB pages where the kernel grants them (core/host_memory.h): a fault per
  // 2 MB while packing instead of per 4 KB, and fewer TLB misses while the kernels stream them.
  const auto bytes = static_cast<size_t>(shape.bytes());
  data_ = static_cast<uint8_t*>(allocate_host(bytes, /*huge_pages=*/true));
  if (!data_)
    throw Error(ErrorCode::kResourceExhausted, "cpu backend: cannot allocate " + std::to_string(bytes) + " bytes of packed weights");
}
PackedMatrix::~PackedMatrix() { free_host(data_); }

namespace {

// Whether [p, p + n) lies inside one read-only, file-backed mapping (/proc/self/maps): the
// model file as MappedFile maps it, whose pages can leave this process and come back from the
// page cache. Not a heap buffer (MADV_DONTNEED would zero it).
bool in_readonly_file_mapping(const void* p, int64_t n) {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (!f) return false;
  const auto a = reinterpret_cast<uintptr_t>(p);
  bool found = false;
  char line[1024];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long lo = 0, hi = 0, offset = 0, inode = 0;
    unsigned major = 0, minor = 0;
    char perms[8] = {};
    if (std::sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &offset, &major, &minor, &inode) != 7) continue;
    if (a >= lo && a < hi) {
      found = a + static_cast<uintptr_t>(n) <= hi && inode != 0 && perms[0] == 'r' && perms[1] == '-';
      break;
    }
  }
  std::fclose(f);
  return found;
}

// The source's whole pages out of this process once packed: only for big matrices (model
// weights, not a test's small buffers) of a read-only file mapping, and never an error. They
// stay in the page cache (MADV_DONTNEED on a private mapping nobody wrote drops the mapping,
// not the file's cached pages: the next run of the model does not read the disk again).
void page_out(const void* data, int64_t bytes) {
  if (bytes < (int64_t{1} << 20) || !in_readonly_file_mapping(data, bytes)) return;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes)) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
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
