// The AVX2 + FMA + F16C kernels (Haswell, Zen and later).
#include "backends/cpu/cpu_kernels_target.h"

#if defined(__x86_64__)
WICK_TARGET_BEGIN("avx2,fma,f16c")
#define WICK_ISA_F16C 1
#define WICK_ISA_AVX2 1
#define WICK_ISA_AVX512 0
#define WICK_ISA_VNNI 0
namespace wick::isa_avx2 {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace wick::isa_avx2
WICK_TARGET_END()

const wick::CpuKernels& wick::cpu_kernels_avx2() { return isa_avx2::kKernels; }
#endif
