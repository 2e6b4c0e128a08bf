#include "backends/cpu/cpu_isa.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/dtype.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace wick {

#define WICK_ISA_F16C 0
#define WICK_ISA_AVX2 0
#define WICK_ISA_AVX512 0
#define WICK_ISA_VNNI 0
namespace isa_baseline {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace isa_baseline
#undef WICK_ISA_F16C
#undef WICK_ISA_AVX2
#undef WICK_ISA_AVX512
#undef WICK_ISA_VNNI

#if defined(__x86_64__)
#if defined(__clang__)  // clang ignores GCC target pragmas
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#define WICK_ISA_F16C 1
#define WICK_ISA_AVX2 1
#define WICK_ISA_AVX512 0
#define WICK_ISA_VNNI 0
namespace isa_avx2 {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace isa_avx2
#undef WICK_ISA_F16C
#undef WICK_ISA_AVX2
#undef WICK_ISA_AVX512
#undef WICK_ISA_VNNI
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)  // clang ignores GCC target pragmas
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif
#define WICK_ISA_F16C 1
#define WICK_ISA_AVX2 1
#define WICK_ISA_AVX512 1
#define WICK_ISA_VNNI 0
namespace isa_avx512 {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace isa_avx512
#undef WICK_ISA_F16C
#undef WICK_ISA_AVX2
#undef WICK_ISA_AVX512
#undef WICK_ISA_VNNI
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// AVX-512 with VNNI (vpdpbusd: 8-bit dot products accumulated into int32 in one instruction).
#if defined(__clang__)  // clang ignores GCC target pragmas
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif
#define WICK_ISA_F16C 1
#define WICK_ISA_AVX2 1
#define WICK_ISA_AVX512 1
#define WICK_ISA_VNNI 1
namespace isa_avx512vnni {
#include "backends/cpu/cpu_kernels.inc"
}  // namespace isa_avx512vnni
#undef WICK_ISA_F16C
#undef WICK_ISA_AVX2
#undef WICK_ISA_AVX512
#undef WICK_ISA_VNNI
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kBaseline: return "baseline";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
    case CpuIsa::kAvx512Vnni: return "avx512vnni";
  }
  return "?";
}

std::vector<CpuIsa> supported_cpu_isas() {
  std::vector<CpuIsa> out{CpuIsa::kBaseline};
#if defined(__x86_64__)
  __builtin_cpu_init();
  // F16C through cpuid (leaf 1, ecx bit 29): clang's __builtin_cpu_supports does not know it.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c)
    out.push_back(CpuIsa::kAvx2);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq")) {
    out.push_back(CpuIsa::kAvx512);
    if (__builtin_cpu_supports("avx512vnni")) out.push_back(CpuIsa::kAvx512Vnni);
  }
#endif
  return out;
}

CpuIsa best_cpu_isa() { return supported_cpu_isas().back(); }

const CpuKernels& cpu_kernels(CpuIsa isa) {
#if defined(__x86_64__)
  if (isa == CpuIsa::kAvx512Vnni) return isa_avx512vnni::kKernels;
  if (isa == CpuIsa::kAvx512) return isa_avx512::kKernels;
  if (isa == CpuIsa::kAvx2) return isa_avx2::kKernels;
#endif
  return isa_baseline::kKernels;
}

}  // namespace wick
