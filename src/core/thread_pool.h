// A persistent pool of worker threads. parallel_for hands out task indices through an atomic
// counter; the calling thread works too. No allocation and no thread creation per call, so the
// decode loop can call it for every matrix product. A decode step makes hundreds of calls of
// tens of microseconds each, so idle workers spin (briefly on pause, then yielding the core) for
// a millisecond before sleeping on a condition variable: a futex wake-up per call would cost as
// much as the work.
//
// A call ends when its last task is done, not when every worker has checked in: on a machine
// shared with other processes a descheduled worker simply takes no task (the caller and the
// workers that run take them all), instead of stalling every call for a scheduler time slice.
// Tasks are claimed with one fetch_add on a word holding the call's task count and next index,
// so a worker that wakes up late can only take a task of the call that is running.
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
  // One call at a time (the pool belongs to one backend, driven by one thread).
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
  void run_once(int64_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(int thread_index);
  // Takes and runs tasks of the running call until none is left.
  void drain(int thread_index);

  static constexpr int kIndexBits = 24;  // a call's tasks at most 2^23, so the index cannot carry over
  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;  // guards sleeping on wake_
  std::condition_variable wake_;
  std::atomic<uint32_t> generation_{0};  // bumped to start a call
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};  // workers waiting on wake_: the caller notifies only when some are

  // The running call. fn_ and ctx_ are written before the call is published through claim_
  // (release); a worker reads them after claiming a task (acquire), and the call cannot end,
  // nor the next one rewrite them, before that task is done.
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<uint64_t> claim_{0};  // n_tasks << kIndexBits | the next task index (past n_tasks: none left)
  std::atomic<int64_t> done_{0};    // tasks of the running call finished
};

}  // namespace wick
