#include <gtest/gtest.h>

#include <atomic>
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

TEST(ThreadPool, SingleThreadAndEmpty) {
  ThreadPool pool(1);
  int n = 0;
  pool.parallel_for(0, [&](int64_t, int) { ++n; });
  pool.parallel_for(5, [&](int64_t, int) { ++n; });
  EXPECT_EQ(n, 5);
}

}  // namespace wick
