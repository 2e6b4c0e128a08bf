#include "backends/cpu/compute_peak.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/thread_pool.h"

namespace wick {
namespace {

constexpr int kChains = 12;  // independent accumulators: more than latency x ports

// Each function runs `iters` rounds of kChains multiply-adds, a[i] = a[i] * m + c, and returns
// a value of the result (the caller keeps it, so nothing is optimized away). m just below 1 and
// c small keep the values finite and normal for any number of rounds.
float chains_scalar(int64_t iters) {
  float a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = 0.001f * static_cast<float>(i);
  for (int64_t n = 0; n < iters; ++n)
    for (float& x : a) x = x * 0.9999f + 0.0001f;
  float s = 0;
  for (float x : a) s += x;
  return s;
}

#if defined(__x86_64__)
float chains_sse(int64_t iters) {
  __m128 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm_set1_ps(0.001f * static_cast<float>(i));
  const __m128 m = _mm_set1_ps(0.9999f), c = _mm_set1_ps(0.0001f);
  for (int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 12
    for (auto& x : a) x = _mm_add_ps(_mm_mul_ps(x, m), c);
  }
  __m128 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm_add_ps(s, a[i]);
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float chains_avx2(int64_t iters) {
  __m256 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(0.0001f);
  for (int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 12
    for (auto& x : a) x = _mm256_fmadd_ps(x, m, c);
  }
  __m256 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, a[i]);
  return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) float chains_avx512(int64_t iters) {
  __m512 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(0.0001f);
  for (int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 12
    for (auto& x : a) x = _mm512_fmadd_ps(x, m, c);
  }
  __m512 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, a[i]);
  float lanes[16];  // (GCC 12 warns inside _mm512_reduce_add_ps)
  _mm512_storeu_ps(lanes, s);
  return lanes[0];
}
#endif

}  // namespace

ComputePeakResult measure_compute_peak(int n_threads, CpuIsa isa, int repeats) {
  ThreadPool pool(n_threads);
  float (*chains)(int64_t) = chains_scalar;
  int width = 1, flops_per_op = 2;  // an FMA (or a multiply and an add) is 2 FLOPs per float
#if defined(__x86_64__)
  switch (isa) {
    case CpuIsa::kAvx512:
    case CpuIsa::kAvx512Vnni: chains = chains_avx512, width = 16; break;
    case CpuIsa::kAvx2: chains = chains_avx2, width = 8; break;
    case CpuIsa::kBaseline: chains = chains_sse, width = 4; break;
  }
#else
  (void)isa;
#endif
  // 50M rounds of 12 per repeat: 0.1 s at 2 FMAs per cycle and 3 GHz, long enough to swamp the
  // pool's hand-offs; the best of the repeats (a VM's neighbours slow some of them).
  constexpr int64_t kIters = 50'000'000;
  ComputePeakResult r;
  r.threads = pool.size();
  r.vector_floats = width;
  // Many short tasks rather than one per thread: the pool's caller would otherwise take a
  // sleeping worker's task too, and the repeat would time one thread doing the work of two.
  const int64_t tasks = 32 * static_cast<int64_t>(r.threads);
  std::vector<float> sink(static_cast<size_t>(tasks));
  chains(kIters / 50);  // warm-up: lets the cores reach their vector clock
  for (int rep = 0; rep < repeats; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(tasks, [&](int64_t t, int) { sink[static_cast<size_t>(t)] = chains(kIters / 32); });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flops = static_cast<double>(tasks) * (kIters / 32) * kChains * width * flops_per_op;
    r.flops_per_second = std::max(r.flops_per_second, flops / s);
  }
  volatile float keep = sink[0];
  (void)keep;
  return r;
}

}  // namespace wick
