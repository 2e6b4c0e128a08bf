#include "backends/cpu/compute_peak.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

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
// The same rounds on GCC vectors of V's width: inlined into each ISA's function below, where
// x * m + c becomes one FMA (AVX2, AVX-512) or a multiply and an add (SSE).
template <class V>
__attribute__((always_inline)) inline float vector_chains(int64_t iters) {
  V a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = V{} + 0.001f * static_cast<float>(i);
  for (int64_t n = 0; n < iters; ++n) {
#pragma GCC unroll 12
    for (auto& x : a) x = x * 0.9999f + 0.0001f;
  }
  V s = a[0];
  for (int i = 1; i < kChains; ++i) s += a[i];
  return s[0];
}
typedef float Floats4 __attribute__((vector_size(16)));
typedef float Floats8 __attribute__((vector_size(32)));
typedef float Floats16 __attribute__((vector_size(64)));
float chains_sse(int64_t iters) { return vector_chains<Floats4>(iters); }
__attribute__((target("avx2,fma"))) float chains_avx2(int64_t iters) { return vector_chains<Floats8>(iters); }
__attribute__((target("avx512f"))) float chains_avx512(int64_t iters) { return vector_chains<Floats16>(iters); }
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
