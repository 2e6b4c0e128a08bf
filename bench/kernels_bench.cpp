// Micro-benchmarks of the CPU matmul: decode-shaped (1 token) and prefill-shaped (many tokens)
// products for each weight dtype and ISA. Figures go in closing notes, never in tests.
//   build/release/bin/wick_bench --benchmark_filter=Matmul
// WICK_BENCH_THREADS=1: one thread (a kernel's own speed, without the pool's dispatch and the
// other core's noise); default: every core.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include <random>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_isa.h"

namespace wick {
namespace {

void BM_Matmul(benchmark::State& state, DType dt, CpuIsa isa) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const int n = static_cast<int>(state.range(2));
  const char* threads = std::getenv("WICK_BENCH_THREADS");
  auto be = make_cpu_backend_for_isa(threads ? std::atoi(threads) : 0, isa);
  be->reserve(cols, 16, 64);
  std::vector<uint8_t> w(dtype_row_bytes(dt, static_cast<uint64_t>(rows * cols)));
  std::mt19937 rng(1);
  for (auto& b : w) b = static_cast<uint8_t>(rng() & 0x3F);  // finite values for every dtype (and block scale)
  Tensor t;
  t.dtype = dt;
  t.ndim = 2;
  t.shape = {rows, cols, 0, 0};
  t.data = w.data();
  std::vector<BackendBuffer> owned;
  t = be->place_weight(t, owned);  // packed as a model's weights are (WICK_REPACK=0: as stored)
  const std::vector<float> x(static_cast<size_t>(n * cols), 0.5f);
  BackendBuffer xb(*be, x.size() * 4), yb(*be, static_cast<size_t>(n * rows) * 4);
  be->upload(xb.ref(), x.data(), x.size() * 4);
  for (auto _ : state) be->matmul(yb.ref(), xb.ref(), n, t, nullptr);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * rows * cols * n * state.iterations(), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void register_all() {
  for (CpuIsa isa : supported_cpu_isas())
    for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                     DType::Q5_K, DType::Q6_K}) {
      const std::string name = std::string("Matmul/") + cpu_isa_name(isa) + "/" + dtype_name(dt);
      benchmark::RegisterBenchmark(name.c_str(), [dt, isa](benchmark::State& s) { BM_Matmul(s, dt, isa); })
          ->Args({512, 2048, 1})  // in L2: the kernel's arithmetic alone
          ->Args({2048, 2048, 1})
          ->Args({5632, 2048, 1})
          ->Args({32000, 2048, 1})  // an LM head: larger than the caches, so memory-bound
          ->Args({151936, 896, 1})  // Qwen2.5-0.5B's LM head: short rows (3.5 units of 256)
          ->Args({2048, 2048, 2})   // small batches of sequences decoding together (candidates, a server)
          ->Args({2048, 2048, 8})
          ->Args({2048, 2048, 64})
          ->UseRealTime();
    }
}

const int kRegistered = (register_all(), 0);

}  // namespace
}  // namespace wick
