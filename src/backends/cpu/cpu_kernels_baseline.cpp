// The portable kernels (plain C++, auto-vectorized for the build's target): any CPU.
#include "backends/cpu/cpu_kernels_target.h"

#define WICK_ISA_F16C 0
#define WICK_ISA_AVX2 0
#define WICK_ISA_AVX512 0
#define WICK_ISA_VNNI 0
namespace wick::isa_baseline {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace wick::isa_baseline

const wick::CpuKernels& wick::cpu_kernels_baseline() { return isa_baseline::kKernels; }
