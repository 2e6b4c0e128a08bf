// The forward pass allocates activations and the KV cache up front: a decode step performs
// no heap allocation at all. Counted by replacing the global operator new in this binary.
#include <atomic>
#include <cstdlib>
#include <new>

#include "test_util.h"
#include "wick/model.h"

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace wick::test {
namespace {

TEST(NoAllocation, DecodeStepsAllocateNothing) {
  WICK_REQUIRE_TESTDATA();
  auto model = Model::load(testdata_dir() + "/models/tinystories-656k");
  ASSERT_TRUE(model);
  SessionOptions so;
  so.n_threads = 2;
  auto session = Session::create(model.value(), so);
  ASSERT_TRUE(session);
  std::vector<int> prompt = {1, 80, 147, 201};
  ASSERT_TRUE(session.value()->append(prompt));
  int tok = 300;
  ASSERT_TRUE(session.value()->append(&tok, 1));  // warm-up (first use of every buffer)
  const long before = g_allocations.load();
  ASSERT_GT(before, 0) << "the counting operator new is in use";
  for (int i = 0; i < 50; ++i) {
    auto r = session.value()->append(&tok, 1);
    ASSERT_TRUE(r);
  }
  EXPECT_EQ(g_allocations.load() - before, 0) << "heap allocations during 50 decode steps";
}

}  // namespace
}  // namespace wick::test
