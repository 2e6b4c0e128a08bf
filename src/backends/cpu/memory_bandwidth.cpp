#include "backends/cpu/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/host_memory.h"
#include "core/thread_pool.h"
#include "wick/error.h"

namespace wick {
namespace {

float read_scalar(const float* p, size_t n) {
  float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < n; i += 8)
    for (int j = 0; j < 8; ++j) a[j] += p[i + j];
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

#if defined(__x86_64__)
// Four streams side by side (the quarters of p), a 64-byte line of each per step: one stream at
// a time left 2 Zen 2 cores at ~30 GB/s, where decode reading 4 or 8 row groups side by side
// streamed 40-47 (see side_by_side_gemm, kernels_panel_gemm.inc). n: a multiple of 64.
__attribute__((target("avx2"))) float read_avx2(const float* p, size_t n) {
  constexpr int kStreams = 4;
  const size_t q = n / kStreams;
  __m256 a[2 * kStreams];
  for (__m256& v : a) v = _mm256_setzero_ps();
  for (size_t i = 0; i < q; i += 16)
    for (int s = 0; s < kStreams; ++s) {
      a[2 * s] = _mm256_add_ps(a[2 * s], _mm256_load_ps(p + s * q + i));
      a[2 * s + 1] = _mm256_add_ps(a[2 * s + 1], _mm256_load_ps(p + s * q + i + 8));
    }
  __m256 sum = _mm256_setzero_ps();
  for (const __m256& v : a) sum = _mm256_add_ps(sum, v);
  float out[8];
  _mm256_storeu_ps(out, sum);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#endif

}  // namespace

uint64_t bandwidth_buffer_for(uint64_t bytes_read_per_token) { return std::clamp<uint64_t>(bytes_read_per_token, 1ull << 20, 1ull << 30); }

struct ReadBandwidthProbe::State {
  ThreadPool pool;
  std::unique_ptr<float, HostMemoryDeleter> buf;  // the memory the kernels stream: huge pages (core/host_memory.h)
  size_t per = 0;                                 // floats per thread
  int passes = 1;                                 // reads of the buffer per timed repeat
  bool avx2 = false;
  std::vector<float> sink;
  explicit State(int n_threads) : pool(n_threads) {}
};

ReadBandwidthProbe::ReadBandwidthProbe(int n_threads, uint64_t buffer_bytes) : state_(std::make_unique<State>(n_threads)) {
  State& st = *state_;
  const size_t bytes = static_cast<size_t>(buffer_bytes) / 256 * 256;
  const size_t n = bytes / sizeof(float);
  st.buf.reset(static_cast<float*>(allocate_host(std::max<size_t>(bytes, 256), /*huge_pages=*/true)));
  if (!st.buf) throw Error(ErrorCode::kResourceExhausted, "bandwidth probe: cannot allocate " + std::to_string(bytes) + " bytes");
  // Touch every page (first-touch by the thread that will read it).
  const int64_t parts = st.pool.size();
  st.per = n / static_cast<size_t>(parts) / 64 * 64;
  st.pool.parallel_for(parts,
                       [&](int64_t t, int) { std::memset(st.buf.get() + st.per * static_cast<size_t>(t), 0, st.per * sizeof(float)); });
#if defined(__x86_64__)
  st.avx2 = __builtin_cpu_supports("avx2");
#endif
  st.sink.resize(static_cast<size_t>(parts));
  // A buffer that fits in cache is read several times per repeat, so that each timed repeat
  // reads at least 256 MiB (a single pass would last microseconds).
  const double buffer = static_cast<double>(st.per * static_cast<size_t>(parts) * sizeof(float));
  st.passes = static_cast<int>(std::max(1.0, std::ceil(268435456.0 / std::max(buffer, 1.0))));
}

ReadBandwidthProbe::~ReadBandwidthProbe() = default;

BandwidthResult ReadBandwidthProbe::measure(int repeats) {
  State& st = *state_;
  const int64_t parts = st.pool.size();
  BandwidthResult r;
  r.threads = st.pool.size();
  r.buffer_bytes = static_cast<double>(st.per * static_cast<size_t>(parts) * sizeof(float));
  r.bytes_per_repeat = r.buffer_bytes * st.passes;
  for (int rep = 0; rep < repeats; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    st.pool.parallel_for(parts, [&](int64_t t, int) {
      const float* p = st.buf.get() + st.per * static_cast<size_t>(t);
      float acc = 0;
      for (int pass = 0; pass < st.passes; ++pass) {
#if defined(__x86_64__)
        acc += st.avx2 ? read_avx2(p, st.per) : read_scalar(p, st.per);
#else
        acc += read_scalar(p, st.per);
#endif
      }
      st.sink[static_cast<size_t>(t)] = acc;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.bytes_per_second = std::max(r.bytes_per_second, r.bytes_per_repeat / s);
  }
  volatile float keep = st.sink[0];
  (void)keep;
  return r;
}

BandwidthResult measure_read_bandwidth(int n_threads, uint64_t buffer_bytes, int repeats) {
  return ReadBandwidthProbe(n_threads, buffer_bytes).measure(repeats);
}

}  // namespace wick
