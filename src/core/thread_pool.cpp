#include "core/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace wick {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

// Waiting for the next call (a worker) or for other threads' tasks (the caller): a short spin
// on pause instructions, then sched_yield, then (workers only) sleep.
// - The calls of a decode step come microseconds apart: the pauses catch most of them.
// - Past those, yielding keeps a waiting thread responsive on a quiet machine (the yield returns
//   at once when nothing else wants the core) and hands the core to whoever wants it on a busy
//   one. Spinning on pause for a whole millisecond, as this pool first did, made a waiting
//   worker compete for the cores with the caller and with other processes: with one CPU hog on
//   2 cores, TinyStories-656K prefilled 42.8K tokens/s instead of 68.0K and decoded 7.4K instead
//   of 15.4K; bigger models decoded 1.29x faster with yields under the hog; on a quiet machine
//   both ways ran alike (README, "busy machine").
// - A worker that waited a millisecond sleeps: a server between requests costs no CPU.
class Backoff {
 public:
  // One wait step. False once the budget is spent: a worker then sleeps.
  bool wait() {
    if (spins_ < kPauseSpins) {
      ++spins_;
      cpu_relax();
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (spins_ == kPauseSpins) {
      yielding_since_ = now;
      ++spins_;
    } else if (now - yielding_since_ > kYieldFor) {
      return false;
    }
    sched_yield();
    return true;
  }

 private:
  static constexpr int kPauseSpins = 64;  // a few microseconds
  static constexpr std::chrono::microseconds kYieldFor{1000};
  int spins_ = 0;
  std::chrono::steady_clock::time_point yielding_since_;
};

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  n_threads_ = n_threads < 1 ? 1 : n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::drain(int thread_index) {
  int64_t finished = 0;
  for (;;) {
    const uint64_t c = claim_.fetch_add(1, std::memory_order_acq_rel);
    const auto n = static_cast<int64_t>(c >> kIndexBits), task = static_cast<int64_t>(c & ((1u << kIndexBits) - 1));
    if (task >= n) break;  // none left (or no call running: n = 0)
    fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), task, thread_index);
    ++finished;
  }
  if (finished > 0) done_.fetch_add(finished, std::memory_order_release);
}

void ThreadPool::run(int64_t n_tasks, TaskFn fn, void* ctx) {
  constexpr int64_t kMaxTasks = int64_t{1} << (kIndexBits - 1);
  if (n_tasks <= kMaxTasks) return run_once(n_tasks, fn, ctx);
  // Larger calls in slices the claim word can count.
  struct Slice {
    TaskFn fn;
    void* ctx;
    int64_t first;
  } slice{fn, ctx, 0};
  const TaskFn shifted = [](void* p, int64_t task, int thread) {
    const auto* s = static_cast<const Slice*>(p);
    s->fn(s->ctx, s->first + task, thread);
  };
  for (; slice.first < n_tasks; slice.first += kMaxTasks) run_once(std::min(kMaxTasks, n_tasks - slice.first), shifted, &slice);
}

void ThreadPool::run_once(int64_t n_tasks, TaskFn fn, void* ctx) {
  // Every task of the previous call is done (run waited for them), and its claim word is
  // exhausted, so no worker reads these until the new word is published below.
  fn_.store(fn, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  claim_.store(static_cast<uint64_t>(n_tasks) << kIndexBits, std::memory_order_release);
  // Publish, then look for sleepers (seq_cst both here and in worker_loop): either a worker
  // going to sleep sees the new generation, or this sees it counted and wakes it under mu_.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    { std::lock_guard<std::mutex> lock(mu_); }
    wake_.notify_all();
  }
  drain(0);
  // Waits for tasks other threads are still running, yielding past the spin so that a worker
  // descheduled on this core gets to finish its task.
  for (Backoff backoff; done_.load(std::memory_order_acquire) != n_tasks;) backoff.wait();
}

void ThreadPool::worker_loop(int thread_index) {
  uint32_t seen = 0;
  for (;;) {
    for (Backoff backoff; generation_.load(std::memory_order_acquire) == seen;) {
      if (stop_.load(std::memory_order_acquire)) return;
      if (!backoff.wait()) {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] { return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        backoff = Backoff();
      }
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation_.load(std::memory_order_acquire);
    drain(thread_index);
  }
}

}  // namespace wick
