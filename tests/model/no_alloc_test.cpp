// The forward pass allocates activations and the KV cache up front: a decode step performs
// no heap allocation at all. Counted by replacing the global operator new in this binary.
#include <atomic>
#include <cstdlib>
#include <new>

#include "test_util.h"
#include "wick/engine.h"
#include "wick/model.h"

namespace {
std::atomic<long> g_allocations{0};
}

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

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

// A batch of forked sequences decoding together on the block KV cache: after the first step
// (which takes the new blocks' pages and sizes the scratch), steps allocate nothing, including
// the ones that hand out fresh KV blocks and copy a shared partial block on write.
TEST(NoAllocation, BatchedDecodeStepsAllocateNothing) {
  WICK_REQUIRE_TESTDATA();
  auto model = Model::load(testdata_dir() + "/models/tinystories-656k");
  ASSERT_TRUE(model);
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
  const long before = g_allocations.load();
  for (int step = 0; step < 40; ++step) {
    auto r = e.step(batch);
    ASSERT_TRUE(r) << r.error().what();
  }
  EXPECT_EQ(g_allocations.load() - before, 0) << "heap allocations during 40 batched decode steps";
}

}  // namespace
}  // namespace wick::test
