#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace wick {

TEST(ThreadPool, RunsEveryTaskOnceAcrossManyCalls) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(1000);
  for (int round = 0; round < 200; ++round)
    pool.parallel_for(1000, [&](int64_t i, int thread) {
      ASSERT_GE(thread, 0);
      ASSERT_LT(thread, 4);
      hits[static_cast<size_t>(i)].fetch_add(1);
    });
  for (auto& h : hits) EXPECT_EQ(h.load(), 200);
}

// Calls of every size from 1 to 40 tasks, back to back, on more threads than tasks: every task
// of every call runs exactly once, and within its own call (a worker that wakes late must not
// take a task of the next one).
TEST(ThreadPool, CallsOfEverySizeRunEachTaskOnceInTheirCall) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(40);
  for (int round = 0; round < 300; ++round) {
    const int n = 1 + round % 40;
    for (auto& h : hits) h.store(0);
    std::atomic<int> wrong{0};
    pool.parallel_for(n, [&](int64_t i, int) {
      if (i >= n) wrong.fetch_add(1);
      hits[static_cast<size_t>(i)].fetch_add(1);
    });
    ASSERT_EQ(wrong.load(), 0) << "call " << round;
    for (int i = 0; i < 40; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), i < n ? 1 : 0) << "call " << round << " task " << i;
  }
}

// More tasks than one claim word counts (2^23) run in slices, each index once.
TEST(ThreadPool, HugeCallsRunInSlices) {
  ThreadPool pool(2);
  const int64_t n = (int64_t{1} << 23) + 5;
  std::atomic<int64_t> count{0}, sum{0};
  pool.parallel_for(n, [&](int64_t i, int) {
    count.fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(i, std::memory_order_relaxed);
  });
  EXPECT_EQ(count.load(), n);
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
}

// After an idle gap of any length (workers still pausing, yielding, or asleep), the workers take
// part in the next call: its two tasks can only finish if two threads run them at once.
TEST(ThreadPool, WorkersJoinCallsAfterEveryIdleGap) {
  ThreadPool pool(2);
  using namespace std::chrono;
  for (const auto gap : {microseconds(0), microseconds(2), microseconds(300), microseconds(5000), microseconds(50000)}) {
    std::this_thread::sleep_for(gap);
    std::atomic<int> started{0};
    std::atomic<bool> timed_out{false};
    pool.parallel_for(2, [&](int64_t, int) {
      started.fetch_add(1);
      const auto deadline = steady_clock::now() + seconds(10);
      while (started.load() < 2)
        if (steady_clock::now() > deadline) {
          timed_out = true;
          return;
        }
    });
    EXPECT_FALSE(timed_out.load()) << "a worker did not join a call after an idle gap of " << gap.count() << " us";
  }
}

TEST(ThreadPool, SingleThreadAndEmpty) {
  ThreadPool pool(1);
  int n = 0;
  pool.parallel_for(0, [&](int64_t, int) { ++n; });
  pool.parallel_for(5, [&](int64_t, int) { ++n; });
  EXPECT_EQ(n, 5);
}

}  // namespace wick
