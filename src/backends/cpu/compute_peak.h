// The machine's arithmetic peak, measured the way prefill computes: every thread runs chains of
// independent fused multiply-adds on the widest vectors of the ISA the kernels use (AVX-512:
// 16 floats, AVX2: 8; the baseline ISA: SSE multiply then add). Enough chains run side by side
// to hide the FMA latency (4 cycles x 2 ports = 8 in flight on Zen 3 and Skylake; 12 are used),
// with no loads: the figure is the cores' FLOP/s, which no GEMM exceeds. Prefill of F16 / BF16
// weights is bound by it (block-quantized prefill by integer dot products instead); `wick bench`
// reports prefill's matrix FLOP/s as a fraction of it.
#pragma once

#include "backends/cpu/cpu_isa.h"

namespace wick {

struct ComputePeakResult {
  double flops_per_second = 0;  // best of the repeats, all threads together
  int threads = 0;
  int vector_floats = 0;  // floats per FMA instruction (16, 8 or 4)
};

// n_threads 0 = all cores; isa: whose vector width (kAvx512 / kAvx512Vnni: 512-bit, kAvx2:
// 256-bit FMA, kBaseline: 128-bit SSE multiply and add).
ComputePeakResult measure_compute_peak(int n_threads, CpuIsa isa, int repeats = 5);

}  // namespace wick
