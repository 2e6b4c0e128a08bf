// A persistent pool of worker threads. parallel_for hands out task indices through an atomic
// counter; the calling thread works too. No allocation and no thread creation per call, so the
// decode loop can call it for every matrix product. A decode step makes hundreds of calls of
// tens of microseconds each, so idle workers spin for a while (about a millisecond) before
// sleeping on a condition variable, and the caller spins for the last workers to finish: a
// futex wake-up per call would cost as much as the work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace wick {

class ThreadPool {
 public:
  // n_threads includes the calling thread; 0 means "all hardware threads".
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread) for task in [0, n_tasks), thread in [0, size()). Blocks until done.
  template <typename Fn>
  void parallel_for(int64_t n_tasks, Fn&& fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
      for (int64_t i = 0; i < n_tasks; ++i) fn(i, 0);
      return;
    }
    using F = std::remove_reference_t<Fn>;
    run(
        n_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<F*>(ctx))(task, thread); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using TaskFn = void (*)(void*, int64_t, int);
  void run(int64_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(int thread_index);
  void drain(int thread_index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;  // guards sleeping on wake_
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) to start a call
  std::atomic<bool> stop_{false};
  std::atomic<int> active_{0};  // workers still draining the current call

  // The current call; written before generation_ is bumped (release), read after (acquire).
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_{0};
};

}  // namespace wick
