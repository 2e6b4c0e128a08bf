// The machine's streaming-read bandwidth, measured the way decode reads weights: every thread
// streams its own contiguous part of a buffer, with wide vector loads into several independent
// accumulators (a scalar sum would measure the adder's latency, not memory). The buffer should
// be as large as what decode reads per token: a model larger than the caches is bound by DRAM,
// and so is a buffer of its size; a model that fits in cache is bound by the cache, which a
// small buffer measures (against a DRAM figure its "fraction" would exceed 1).
#pragma once

#include <cstdint>

namespace wick {

struct BandwidthResult {
  double bytes_per_second = 0;  // best of the repeats
  double buffer_bytes = 0;      // the buffer read
  double bytes_per_repeat = 0;  // bytes read per timed repeat (small buffers are read several times)
  int threads = 0;
};

// n_threads 0 = all cores; buffer_bytes is rounded down to whole 256-byte lines per thread.
BandwidthResult measure_read_bandwidth(int n_threads, uint64_t buffer_bytes = 1ull << 30, int repeats = 5);
// The buffer that measures the memory a model's decode reads from: its bytes per token, at least
// 1 MiB and at most 1 GiB (beyond the caches, more only costs memory).
uint64_t bandwidth_buffer_for(uint64_t bytes_read_per_token);

}  // namespace wick
