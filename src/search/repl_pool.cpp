#include "search/repl_pool.h"

#include <chrono>
#include <unordered_map>

namespace wick::search {
namespace {

using Clock = std::chrono::steady_clock;

std::string state_key(const std::string& theorem, const std::vector<std::string>& path, size_t depth) {
  std::string k = theorem;
  for (size_t i = 0; i < depth; ++i) {
    k += '\x1e';
    k += path[i];
  }
  return k;
}

std::string first_error(const std::vector<LeanMessage>& ms, const std::string& thrown) {
  if (!thrown.empty()) return thrown;
  for (const auto& m : ms)
    if (m.severity == "error") return m.data;
  return "";
}

}  // namespace

struct ReplPool::Worker {
  int index = 0;
  std::unique_ptr<LeanRepl> repl;
  uint64_t generation = 0;
  std::unordered_map<std::string, int> states;  // state key -> proofState, in this process
  std::thread thread;

  // The proofState of `path[0..depth)` in this worker's process, replaying what it lacks.
  // Throws ReplFailure; returns -1 (with *error set) if a replayed step no longer works.
  int state_of(const std::string& theorem, const std::vector<std::string>& path, size_t depth, std::string* error, PoolStats& stats,
               std::mutex& mu) {
    if (repl->generation() != generation || !repl->running()) states.clear();
    const int env = repl->header_env();  // may (re)start the process
    if (repl->generation() != generation) {
      states.clear();
      generation = repl->generation();
    }
    size_t have = depth + 1;
    int id = -1;
    while (have-- > 0) {
      auto it = states.find(state_key(theorem, path, have));
      if (it != states.end()) {
        id = it->second;
        break;
      }
    }
    if (id < 0) {  // not even the root: run the theorem statement
      have = 0;
      const CommandReply r = repl->command(theorem, env);
      if (r.has_errors() || r.sorries.empty() || r.sorries[0].proof_state < 0) {
        *error = "the theorem statement does not compile: " + first_error(r.messages, r.error);
        return -1;
      }
      id = r.sorries[0].proof_state;
      states[state_key(theorem, path, 0)] = id;
    }
    for (size_t i = have; i < depth; ++i) {
      const TacticReply t = repl->tactic(path[i], id);
      {
        std::lock_guard<std::mutex> lock(mu);
        ++stats.replayed;
      }
      if (!usable_step(t)) {
        *error = "replaying '" + path[i] + "' failed: " + first_error(t.messages, t.error);
        return -1;
      }
      id = t.proof_state;
      states[state_key(theorem, path, i + 1)] = id;
    }
    return id;
  }
};

ReplPool::ReplPool(ReplOptions opts, int workers) {
  if (workers < 1) workers = 1;
  for (int i = 0; i < workers; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    w->repl = std::make_unique<LeanRepl>(opts);
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { work(*raw); });
  }
}

ReplPool::~ReplPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w->thread.join();
}

void ReplPool::work(Worker& w) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      // A job whose parent state this worker built, else the oldest one.
      auto pick = jobs_.begin();
      for (auto it = jobs_.begin(); it != jobs_.end(); ++it)
        if (it->prefer == w.index) {
          pick = it;
          break;
        }
      job = std::move(*pick);
      jobs_.erase(pick);
    }
    job.run(w);
  }
}

void ReplPool::enqueue(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_all();
}

std::future<StepResult> ReplPool::apply(const std::string& theorem, const std::vector<std::string>& path, const std::string& tactic,
                                        int prefer) {
  auto promise = std::make_shared<std::promise<StepResult>>();
  auto fut = promise->get_future();
  Job job;
  job.prefer = prefer;
  job.run = [this, promise, theorem, path, tactic](Worker& w) {
    const auto t0 = Clock::now();
    StepResult r;
    r.worker = w.index;
    const uint64_t gen_before = w.repl->generation();
    try {
      std::string error;
      const int id = w.state_of(theorem, path, path.size(), &error, stats_, mu_);
      if (id < 0) {
        r.kind = StepResult::Kind::kFailed;
        r.error = error;
      } else {
        const TacticReply t = w.repl->tactic(tactic, id);
        if (closes_proof(t)) {
          r.kind = StepResult::Kind::kProved;
        } else if (usable_step(t) && !t.goals.empty()) {
          r.kind = StepResult::Kind::kState;
          r.goals = t.goals;
          std::vector<std::string> child = path;
          child.push_back(tactic);
          w.states[state_key(theorem, child, child.size())] = t.proof_state;
        } else {
          r.kind = StepResult::Kind::kFailed;
          r.error = first_error(t.messages, t.error);
          if (r.error.empty() && !t.sorries.empty()) r.error = "the step contains sorry";
          if (r.error.empty() && t.goals.empty()) r.error = "no goals left but the proof is " + t.proof_status.value_or("incomplete");
        }
      }
    } catch (const ReplFailure& e) {
      r.kind = e.kind == ReplFailure::Kind::kTimeout ? StepResult::Kind::kTimeout : StepResult::Kind::kCrashed;
      r.error = e.what();
      std::lock_guard<std::mutex> lock(mu_);
      if (r.kind == StepResult::Kind::kTimeout)
        ++stats_.timeouts;
      else
        ++stats_.crashes;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.tactics;
      if (gen_before > 0 && w.repl->generation() != gen_before) ++stats_.restarts;  // not the first start
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    promise->set_value(std::move(r));
  };
  enqueue(std::move(job));
  return fut;
}

std::future<StepResult> ReplPool::root(const std::string& theorem, int prefer) {
  auto promise = std::make_shared<std::promise<StepResult>>();
  auto fut = promise->get_future();
  Job job;
  job.prefer = prefer;
  job.run = [promise, theorem](Worker& w) {
    const auto t0 = Clock::now();
    StepResult r;
    r.worker = w.index;
    try {
      if (w.repl->generation() != w.generation || !w.repl->running()) w.states.clear();
      const int env = w.repl->header_env();
      w.generation = w.repl->generation();
      const CommandReply c = w.repl->command(theorem, env);
      if (c.has_errors() || c.sorries.empty() || c.sorries[0].proof_state < 0) {
        r.kind = StepResult::Kind::kFailed;
        r.error = "the theorem statement does not compile: " + first_error(c.messages, c.error);
        if (c.sorries.empty() && !c.has_errors()) r.error = "the theorem statement has no `sorry` to start from";
      } else {
        r.kind = StepResult::Kind::kState;
        r.goals = {c.sorries[0].goal};
        w.states[state_key(theorem, {}, 0)] = c.sorries[0].proof_state;
      }
    } catch (const ReplFailure& e) {
      r.kind = e.kind == ReplFailure::Kind::kTimeout ? StepResult::Kind::kTimeout : StepResult::Kind::kCrashed;
      r.error = e.what();
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    promise->set_value(std::move(r));
  };
  enqueue(std::move(job));
  return fut;
}

std::future<CheckResult> ReplPool::check(const std::string& proof_text) {
  auto promise = std::make_shared<std::promise<CheckResult>>();
  auto fut = promise->get_future();
  Job job;
  job.run = [this, promise, proof_text](Worker& w) {
    const auto t0 = Clock::now();
    CheckResult r;
    try {
      const CommandReply c = w.repl->command(proof_text, w.repl->header_env());
      r.ok = proof_checks(c);
      if (!r.ok) {
        r.error = first_error(c.messages, c.error);
        if (r.error.empty()) r.error = "the proof uses sorry";
      }
    } catch (const ReplFailure& e) {
      r.error = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.checks;
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    promise->set_value(std::move(r));
  };
  enqueue(std::move(job));
  return fut;
}

PoolStats ReplPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace wick::search
