// The AVX-512 (F, BW, VL, DQ) kernels, without VNNI (Skylake-X).
#include "backends/cpu/cpu_kernels_target.h"

#if defined(__x86_64__)
WICK_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#define WICK_ISA_F16C 1
#define WICK_ISA_AVX2 1
#define WICK_ISA_AVX512 1
#define WICK_ISA_VNNI 0
namespace wick::isa_avx512 {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace wick::isa_avx512
WICK_TARGET_END()

const wick::CpuKernels& wick::cpu_kernels_avx512() { return isa_avx512::kKernels; }
#endif
