// Which instruction sets this processor has, and each one's kernel table (the kernels are
// compiled once per ISA in cpu_kernels_<isa>.cpp).
#include "backends/cpu/cpu_isa.h"

#include <cstdlib>
#include <string>

#include "wick/error.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace wick {

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
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) out.push_back(CpuIsa::kAvx2);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq")) {
    out.push_back(CpuIsa::kAvx512);
    if (__builtin_cpu_supports("avx512vnni")) out.push_back(CpuIsa::kAvx512Vnni);
  }
#endif
  return out;
}

CpuIsa best_cpu_isa() { return supported_cpu_isas().back(); }

CpuIsa cpu_isa_from_name(const std::string& name) {
  std::string have;
  for (CpuIsa isa : supported_cpu_isas()) {
    if (name == cpu_isa_name(isa)) return isa;
    have += std::string(have.empty() ? "" : ", ") + cpu_isa_name(isa);
  }
  for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAvx512Vnni})
    if (name == cpu_isa_name(isa))
      throw Error(ErrorCode::kUnsupported, "instruction set \"" + name + "\": this processor lacks it (it has " + have + ")");
  throw Error(ErrorCode::kInvalidArgument,
              "unknown instruction set \"" + name + "\" (baseline, avx2, avx512 or avx512vnni; this processor has " + have + ")");
}

CpuIsa default_cpu_isa() {
  const char* forced = std::getenv("WICK_ISA");
  if (forced && *forced) {
    try {
      return cpu_isa_from_name(forced);
    } catch (const Error& e) {
      throw Error(e.code(), std::string("WICK_ISA: ") + e.what());
    }
  }
  return best_cpu_isa();
}

const CpuKernels& cpu_kernels(CpuIsa isa) {
#if defined(__x86_64__)
  if (isa == CpuIsa::kAvx512Vnni) return cpu_kernels_avx512vnni();
  if (isa == CpuIsa::kAvx512) return cpu_kernels_avx512();
  if (isa == CpuIsa::kAvx2) return cpu_kernels_avx2();
#endif
  return cpu_kernels_baseline();
}

}  // namespace wick
