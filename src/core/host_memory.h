// Host memory for the buffers kernels compute on: the CPU backend's activations and KV cache,
// weights packed at load, the bandwidth probe. With huge_pages, a buffer of 2 MB or more starts
// on a 2 MB boundary and is advised onto transparent huge pages (Linux's MADV_HUGEPAGE;
// "madvise" is Debian's default THP mode, so without the advice every buffer gets 4 KB pages).
//
// Who asks for them:
// - Packed weights and the bandwidth probe: streamed whole; a fault per 2 MB instead of per
//   4 KB while writing them, fewer TLB misses while reading.
// - A KV cache whose blocks are 32 KB or more (DeepSeek-Prover-V2-7B: 32 heads of 128, 256 KB
//   per F32 block of 16 positions). Attention reads one head's rows of a block (8 KB), then
//   that head's rows of the next block, a block further: with 4 KB pages each run is a page or
//   two of its own, and the page-table entries of pages 32 KB or more apart are each in a cache
//   line of their own (8 entries a line), so each page walk is a miss. On Zen 2
//   (bench/attention_bench.cpp, one layer of that shape at depth 4096) the kernel read 9.8-9.9
//   GB/s of F32 keys and values from 4 KB pages and 11.0-11.8 from 2 MB pages (F16 7.3-7.5
//   against 8.5-9.0). Qwen2.5-0.5B's blocks (8 KB F32, 4 KB F16) decoded alike in the model
//   from either (depth 4096, F32 32.5 / 30.5 against 30.0 / 31.1 tokens/s).
// Huge pages are faulted in on first touch like small ones, but 2 MB at a time: a buffer
// touched only at its start (activations sized for the longest prompt, the first blocks of
// each layer's keys and values) costs up to 2 MB instead of 4 KB. Big-block KV caches accept
// that (at most 4 MB per layer); the rest do not ask.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wick {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// Whether a buffer read in short runs, run_stride bytes apart, should ask for huge pages: where
// the runs' 4 KB pages are 32 KB or more apart (see above).
constexpr bool runs_want_huge_pages(int64_t run_stride) { return run_stride >= 32 << 10; }

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
