// A pool of Lean REPL processes serving the search: a theorem's root goals, tactic applications
// and whole-proof checks, run in parallel on N processes.
//
// A proof state is named by its theorem command and the tactics from the root, not by a REPL
// proofState id (those belong to one process and die with it). Each worker keeps the ids of the
// states it has built; a job on a state the worker does not hold (built elsewhere, or lost in a
// restart) replays the tactics from the deepest state it holds. Jobs go preferably to the
// worker that built their parent; an idle worker takes any job. A hung or crashed REPL costs
// the job it was running (a timeout or crash result), never the search.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "search/lean_repl.h"

namespace wick::search {

struct StepResult {
  enum class Kind { kState, kProved, kFailed, kTimeout, kCrashed } kind = Kind::kFailed;
  std::vector<std::string> goals;  // kState: the goals after the tactic; kState at the root: the theorem's goals
  std::string error;               // kFailed / kTimeout / kCrashed: why
  int worker = -1;                 // the worker that now holds the new state
  double seconds = 0;
};

struct CheckResult {
  bool ok = false;
  std::string error;  // the first error (or sorry) when it does not check
  double seconds = 0;
};

struct PoolStats {
  uint64_t tactics = 0, replayed = 0, timeouts = 0, crashes = 0, restarts = 0, checks = 0;
};

class ReplPool {
 public:
  ReplPool(ReplOptions opts, int workers);
  ~ReplPool();  // stops the workers and kills every REPL

  // The goals of `theorem_cmd` (a `theorem ... := by sorry` command run in the header's
  // environment): kState with the root goals, or kFailed when the statement does not compile.
  std::future<StepResult> root(const std::string& theorem_cmd, int prefer_worker = -1);
  // `tactic` applied to the state reached by `path` from the theorem's root.
  std::future<StepResult> apply(const std::string& theorem_cmd, const std::vector<std::string>& path, const std::string& tactic,
                                int prefer_worker = -1);
  // A whole proof text (declaration + tactics) as one command in the header's environment.
  std::future<CheckResult> check(const std::string& proof_text);

  int workers() const { return static_cast<int>(workers_.size()); }
  PoolStats stats() const;

 private:
  struct Worker;
  struct Job {
    int prefer = -1;
    std::function<void(Worker&)> run;
  };
  void work(Worker& w);
  void enqueue(Job job);  // queues a job and wakes the workers

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  PoolStats stats_;
};

}  // namespace wick::search
