// The machine's streaming-read bandwidth, measured the way decode reads weights: every thread
// streams its own contiguous part of a buffer, with wide vector loads into several independent
// accumulators (a scalar sum would measure the adder's latency, not memory). The buffer should
// be as large as what decode reads per token: a model larger than the caches is bound by DRAM,
// and so is a buffer of its size; a model that fits in cache is bound by the cache, which a
// small buffer measures (against a DRAM figure its "fraction" would exceed 1).
#pragma once

#include <cstdint>
#include <memory>

namespace wick {

struct BandwidthResult {
  double bytes_per_second = 0;  // best of the repeats
  double buffer_bytes = 0;      // the buffer read
  double bytes_per_repeat = 0;  // bytes read per timed repeat (small buffers are read several times)
  int threads = 0;
};

// A buffer and threads kept for measurements taken again and again: beside each decode run, so
// that a machine whose bandwidth drifts (a shared VM: 30-54 GB/s within the hour, measured) is
// compared with what it delivered at that moment. n_threads 0 = all cores; buffer_bytes is
// rounded down to whole 256-byte lines per thread, and first touched here.
class ReadBandwidthProbe {
 public:
  ReadBandwidthProbe(int n_threads, uint64_t buffer_bytes);
  ~ReadBandwidthProbe();
  ReadBandwidthProbe(const ReadBandwidthProbe&) = delete;
  ReadBandwidthProbe& operator=(const ReadBandwidthProbe&) = delete;
  // The best of `repeats` timed reads of the buffer.
  BandwidthResult measure(int repeats);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One probe's measurement (n_threads, buffer_bytes: as ReadBandwidthProbe's).
BandwidthResult measure_read_bandwidth(int n_threads, uint64_t buffer_bytes = 1ull << 30, int repeats = 5);
// The buffer that measures the memory a model's decode reads from: its bytes per token, at least
// 1 MiB and at most 1 GiB (beyond the caches, more only costs memory).
uint64_t bandwidth_buffer_for(uint64_t bytes_read_per_token);

}  // namespace wick
