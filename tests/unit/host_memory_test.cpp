// Host memory of the CPU backend (core/host_memory.h): its alignment, and transparent huge pages
// exactly where they are asked for (a KV cache whose rows of one head lie 4 KB or more apart),
// read back from the kernel's own account of the mapping: THPeligible in /proc/self/smaps.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "backends/backend.h"
#include "core/host_memory.h"
#include "runtime/kv_cache.h"

namespace wick {
namespace {

// The bracketed word of /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise",
// "never"), or "" where the kernel has no THP.
std::string thp_mode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(f, line);
  const auto open = line.find('['), close = line.find(']');
  return open == std::string::npos || close == std::string::npos ? "" : line.substr(open + 1, close - open - 1);
}

// THPeligible of the mapping that holds p: 1 or 0, -1 where smaps has no such line.
int thp_eligible(const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(f, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {  // a mapping's first line: "lo-hi perms ..."
      inside = lo <= addr && addr < hi;
      continue;
    }
    if (inside && line.rfind("THPeligible:", 0) == 0) return std::stoi(line.substr(12));
  }
  return -1;
}

// Skips unless the kernel reports huge-page eligibility and grants advised pages (a CI machine
// with THP "never" cannot show the difference).
#define REQUIRE_THP_MADVISE()                                                                                 \
  do {                                                                                                        \
    const std::string mode = thp_mode();                                                                      \
    if (mode != "madvise" && mode != "always") GTEST_SKIP() << "transparent huge pages are '" << mode << "'"; \
  } while (0)

TEST(HostMemory, AlignedWritableAndHugePagesOnlyFrom2Mb) {
  for (const size_t bytes : {size_t{1}, size_t{100}, size_t{1} << 20, size_t{3} << 20})
    for (const bool huge : {false, true}) {
      std::unique_ptr<uint8_t, HostMemoryDeleter> p(static_cast<uint8_t*>(allocate_host(bytes, huge)));
      ASSERT_NE(p, nullptr);
      const auto addr = reinterpret_cast<uintptr_t>(p.get());
      EXPECT_EQ(addr % 64, 0u) << bytes << " bytes";
      if (huge && bytes >= kHugePageBytes) {
        EXPECT_EQ(addr % kHugePageBytes, 0u) << bytes << " bytes on huge pages start on one";
      }
      std::memset(p.get(), 0x5A, bytes);  // all of it is ours (ASan checks the bounds)
      EXPECT_EQ(p.get()[bytes - 1], 0x5A);
    }
}

TEST(HostMemory, AdvisedOntoHugePagesWhereAsked) {
  REQUIRE_THP_MADVISE();
  constexpr size_t kBytes = size_t{8} << 20;
  std::unique_ptr<uint8_t, HostMemoryDeleter> huge(static_cast<uint8_t*>(allocate_host(kBytes, true)));
  std::unique_ptr<uint8_t, HostMemoryDeleter> small(static_cast<uint8_t*>(allocate_host(kBytes, false)));
  ASSERT_TRUE(huge && small);
  if (thp_eligible(huge.get()) < 0) GTEST_SKIP() << "/proc/self/smaps has no THPeligible";
  EXPECT_EQ(thp_eligible(huge.get()), 1);
  if (thp_mode() == "madvise") {
    EXPECT_EQ(thp_eligible(small.get()), 0) << "not advised: 4 KB pages in madvise mode";
  }
}

// The KV cache tells the CPU backend how attention reads it: DeepSeek-Prover-V2-7B's blocks of
// 16 positions (32 heads of 128, 256 KB in F32) go on huge pages, Qwen2.5-0.5B's (2 heads of 64,
// 8 KB) and activations do not (a buffer touched only at its start would cost 2 MB per huge page).
TEST(HostMemory, CpuBackendPutsKvCachesOfBigBlocksOnHugePages) {
  REQUIRE_THP_MADVISE();
  auto cpu = make_cpu_backend(1);
  KvCache mha(*cpu, /*n_layers=*/1, /*kv_dim=*/32 * 128, /*block_size=*/16, /*n_blocks=*/8);  // 2 x 2 MB
  KvCache gqa(*cpu, /*n_layers=*/1, /*kv_dim=*/2 * 64, /*block_size=*/16, /*n_blocks=*/256);  // 2 x 2 MB
  BackendBuffer activations(*cpu, size_t{4} << 20);
  const auto host = [](BufferRef r) { return reinterpret_cast<const void*>(r.addr); };  // the CPU's addresses are host pointers
  if (thp_eligible(host(mha.k(0))) < 0) GTEST_SKIP() << "/proc/self/smaps has no THPeligible";
  EXPECT_EQ(thp_eligible(host(mha.k(0))), 1);
  EXPECT_EQ(thp_eligible(host(mha.v(0))), 1);
  if (thp_mode() == "madvise") {
    EXPECT_EQ(thp_eligible(host(gqa.k(0))), 0);
    EXPECT_EQ(thp_eligible(host(activations.ref())), 0);
  }
}

}  // namespace
}  // namespace wick
