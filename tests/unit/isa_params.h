// Kernel tests are instantiated for every instruction set wick has kernels for, whatever the CPU
// running them; the ones the CPU lacks skip loudly (the log shows which ISAs were not tested),
// so AVX-512 / VNNI kernels never vanish silently from a run on an AVX2-only machine.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_isa.h"

namespace wick::test {

inline std::vector<CpuIsa> every_cpu_isa() { return {CpuIsa::kBaseline, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAvx512Vnni}; }

inline bool isa_runs_here(CpuIsa isa) {
  const auto s = supported_cpu_isas();
  return std::find(s.begin(), s.end(), isa) != s.end();
}

#define WICK_REQUIRE_ISA(isa)                                                                                    \
  do {                                                                                                           \
    if (!::wick::test::isa_runs_here(isa))                                                                       \
      GTEST_SKIP() << "*** " << cpu_isa_name(isa) << " kernels NOT TESTED: this CPU lacks the instructions ***"; \
  } while (0)

// A backend the op tests run (the same tests across backend x dtype, as CTranslate2 does): how
// to make one, why it cannot run here ("" = it can), and a factor on every test's tolerance
// against the double-precision reference (a GPU's reductions round differently). Batch
// invariance stays exact for every backend: the Backend interface promises it.
struct BackendCase {
  std::string name;  // test-name safe: "cpu_avx2"
  std::function<std::unique_ptr<Backend>(int n_threads)> make;
  std::string unavailable;
  double tol = 1;
};
inline void PrintTo(const BackendCase& b, std::ostream* os) { *os << b.name; }

// The CPU backend on every ISA it has kernels for (a CUDA backend joins this list).
inline std::vector<BackendCase> every_backend() {
  std::vector<BackendCase> out;
  for (CpuIsa isa : every_cpu_isa())
    out.push_back({std::string("cpu_") + cpu_isa_name(isa), [isa](int n) { return make_cpu_backend_for_isa(n, isa); },
                   isa_runs_here(isa) ? "" : "this CPU lacks the instructions", 1.0});
  return out;
}

#define WICK_REQUIRE_BACKEND(b)                                                                                       \
  do {                                                                                                                \
    if (!(b).unavailable.empty()) GTEST_SKIP() << "*** " << (b).name << " NOT TESTED: " << (b).unavailable << " ***"; \
  } while (0)

// Prints once which instruction sets this run tests.
class IsaReport : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string ran, not_ran;
    for (CpuIsa isa : every_cpu_isa()) (isa_runs_here(isa) ? ran : not_ran) += std::string(" ") + cpu_isa_name(isa);
    std::printf("[isa] kernels tested on:%s; NOT tested (CPU lacks them):%s\n", ran.c_str(), not_ran.empty() ? " none" : not_ran.c_str());
  }
};

}  // namespace wick::test
