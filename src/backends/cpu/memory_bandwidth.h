// The machine's streaming-read memory bandwidth, measured the way decode reads weights: every
// thread streams its own contiguous part of a buffer much larger than the caches, with wide
// vector loads into several independent accumulators (a scalar sum would measure the adder's
// latency, not memory).
#pragma once

namespace wick {

struct BandwidthResult {
  double bytes_per_second = 0;  // best of the repeats
  double buffer_bytes = 0;
  int threads = 0;
};

// n_threads 0 = all cores; buffer_mib should be several times the last-level cache.
BandwidthResult measure_read_bandwidth(int n_threads, int buffer_mib = 1024, int repeats = 5);

}  // namespace wick
