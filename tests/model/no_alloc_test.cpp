// The forward pass allocates activations and the KV cache up front: a decode step performs
// no heap allocation at all. Counted by interposing the C allocator in this binary (malloc,
// calloc, realloc, aligned_alloc, memalign, posix_memalign over glibc's __libc_* entry points),
// which every allocation goes through: operator new and its aligned and nothrow forms in
// libstdc++, std::vector, PCRE2, the thread pool. Under AddressSanitizer (which owns malloc)
// the tests skip; the release run counts.
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "test_util.h"
#include "wick/engine.h"
#include "wick/model.h"

#if defined(__SANITIZE_ADDRESS__)
#define WICK_COUNTS_ALLOCATIONS 0
#else
#define WICK_COUNTS_ALLOCATIONS 1
namespace {
std::atomic<long> g_allocations{0};
void counted() { g_allocations.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);

void* malloc(size_t n) {
  counted();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  counted();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  counted();
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t alignment, size_t n) {
  counted();
  return __libc_memalign(alignment, n);
}
void* memalign(size_t alignment, size_t n) {
  counted();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  counted();
  void* p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void free(void* p) { __libc_free(p); }
}
#endif

namespace wick::test {
namespace {

#if WICK_COUNTS_ALLOCATIONS
long allocations() { return g_allocations.load(); }
#define WICK_REQUIRE_COUNTING() (void)0
#else
long allocations() { return 0; }
#define WICK_REQUIRE_COUNTING() GTEST_SKIP() << "AddressSanitizer owns malloc: allocations are counted in the release run"
#endif

// The counter itself: every way of allocating goes through it.
TEST(AllocationCounter, SeesEveryAllocator) {
  WICK_REQUIRE_COUNTING();
  long before = allocations();
  void* m = std::malloc(24);
  asm volatile("" : : "r"(m) : "memory");
  std::free(m);
  EXPECT_EQ(allocations() - before, 1) << "malloc";
  before = allocations();
  auto* a = new (std::align_val_t(64)) float[16];
  asm volatile("" : : "r"(a) : "memory");
  ::operator delete[](a, std::align_val_t(64));
  EXPECT_EQ(allocations() - before, 1) << "aligned new[]";
  before = allocations();
  auto* n = new (std::nothrow) int[4];
  asm volatile("" : : "r"(n) : "memory");
  delete[] n;
  auto v = std::make_unique<std::vector<int>>(100);
  EXPECT_EQ(allocations() - before, 3) << "nothrow new[], make_unique, the vector's storage";
}

class NoAllocation : public ::testing::TestWithParam<const char*> {};

// F32 weights and Q8_0 ones (whose matmuls quantize activations into their own scratch).
TEST_P(NoAllocation, DecodeStepsAllocateNothing) {
  WICK_REQUIRE_TESTDATA();
  WICK_REQUIRE_COUNTING();
  auto model = Model::load(testdata_dir() + "/models/tinystories-656k", {GetParam()});
  ASSERT_TRUE(model) << model.error().what();
  SessionOptions so;
  so.n_threads = 2;
  auto session = Session::create(model.value(), so);
  ASSERT_TRUE(session);
  std::vector<int> prompt = {1, 80, 147, 201};
  ASSERT_TRUE(session.value()->append(prompt));
  int tok = 300;
  ASSERT_TRUE(session.value()->append(&tok, 1));  // warm-up (first use of every buffer)
  const long before = allocations();
  ASSERT_GT(before, 0) << "the counting allocator is in use";
  for (int i = 0; i < 50; ++i) {
    auto r = session.value()->append(&tok, 1);
    ASSERT_TRUE(r);
  }
  EXPECT_EQ(allocations() - before, 0) << "heap allocations during 50 decode steps (" << GetParam() << ")";
}

// A batch of forked sequences decoding together on the block KV cache: after the first step
// (which takes the new blocks' pages and sizes the scratch), steps allocate nothing, including
// the ones that hand out fresh KV blocks and copy a shared partial block on write.
TEST_P(NoAllocation, BatchedDecodeStepsAllocateNothing) {
  WICK_REQUIRE_TESTDATA();
  WICK_REQUIRE_COUNTING();
  auto model = Model::load(testdata_dir() + "/models/tinystories-656k", {GetParam()});
  ASSERT_TRUE(model) << model.error().what();
  EngineOptions o;
  o.n_threads = 2;
  o.kv_block_size = 4;
  auto engine = Engine::create(model.value(), o);
  ASSERT_TRUE(engine);
  Engine& e = *engine.value();
  const std::vector<int> prompt = {1, 80, 147, 201, 282};
  SequenceId s[4];
  s[0] = e.add_sequence().value();
  StepInput p{s[0], prompt.data(), 5, StepOutput::kLastLogits};
  ASSERT_TRUE(e.step(std::span<const StepInput>(&p, 1)));
  for (int i = 1; i < 4; ++i) s[i] = e.fork_sequence(s[0]).value();
  int toks[4] = {300, 301, 302, 303};
  StepInput batch[4];
  for (int i = 0; i < 4; ++i) batch[i] = {s[i], &toks[i], 1, StepOutput::kLastLogits};
  ASSERT_TRUE(e.step(batch));  // warm-up
  const long before = allocations();
  for (int step = 0; step < 40; ++step) {
    auto r = e.step(batch);
    ASSERT_TRUE(r) << r.error().what();
  }
  EXPECT_EQ(allocations() - before, 0) << "heap allocations during 40 batched decode steps (" << GetParam() << ")";
}

INSTANTIATE_TEST_SUITE_P(WeightDtypes, NoAllocation, ::testing::Values("f32", "q8_0", "q4_0"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace wick::test
