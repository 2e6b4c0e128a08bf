// The AVX-512 VNNI kernels (Cascade Lake, Ice Lake, Zen 4 and later).
#include "backends/cpu/cpu_kernels_target.h"

#if defined(__x86_64__)
WICK_TARGET_BEGIN("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#define WICK_ISA_F16C 1
#define WICK_ISA_AVX2 1
#define WICK_ISA_AVX512 1
#define WICK_ISA_VNNI 1
namespace wick::isa_avx512vnni {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace wick::isa_avx512vnni
WICK_TARGET_END()

const wick::CpuKernels& wick::cpu_kernels_avx512vnni() { return isa_avx512vnni::kKernels; }
#endif
