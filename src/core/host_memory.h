// Host memory for the buffers kernels compute on: the CPU backend's activations and KV cache,
// weights packed at load, the bandwidth probe. With huge_pages, a buffer of 2 MB or more starts
// on a 2 MB boundary and is advised onto transparent huge pages (Linux's MADV_HUGEPAGE;
// "madvise" is Debian's default THP mode, so without the advice every buffer gets 4 KB pages).
//
// Who asks for them:
// - Packed weights and the bandwidth probe: streamed whole; a fault per 2 MB instead of per
//   4 KB while writing them, fewer TLB misses while reading.
// - A KV cache whose rows of one head lie 4 KB or more apart (DeepSeek-Prover-V2-7B: 32 heads
//   of 128, 16 KB per F32 position): with 4 KB pages every key row the attention kernel reads
//   is a new page and a TLB miss. On Zen 2 (bench/attention_bench.cpp, one layer of that shape
//   at depth 4096) the kernel read 4.6-5.7 GB/s of F32 keys and values from 4 KB pages and
//   7.7-7.8 GB/s from 2 MB pages.
// Huge pages are faulted in on first touch like small ones, but 2 MB at a time: a buffer
// touched only at its start (activations sized for the longest prompt, the first blocks of
// each layer's keys and values) costs up to 2 MB instead of 4 KB. Big-row KV caches accept
// that (at most 4 MB per layer); the rest do not ask.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wick {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// Whether a buffer whose rows are read one by one, row_stride bytes apart, should ask for huge
// pages: where each row would otherwise be on a 4 KB page of its own.
constexpr bool rows_want_huge_pages(int64_t row_stride) { return row_stride >= 4096; }

// At least `bytes` (>= 1) of uninitialized memory, 64-byte aligned (with huge_pages and from
// 2 MB up: 2 MB aligned and huge-page advised); nullptr when the system has none. Release with
// free_host.
void* allocate_host(size_t bytes, bool huge_pages);
void free_host(void* p);

// A deleter for std::unique_ptr of allocate_host's memory.
struct HostMemoryDeleter {
  void operator()(void* p) const { free_host(p); }
};

}  // namespace wick
