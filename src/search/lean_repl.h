// One Lean REPL process: started from a shell command line (e.g. `lake env .lake/build/bin/repl`
// in a Mathlib project), the proof header imported once per process and its environment reused,
// every request bounded by a timeout. The process runs in its own process group under an
// address-space limit (RLIMIT_AS); a hung or crashed REPL is killed and started afresh on next
// use, and it is restarted after max_commands requests because its memory grows without bound.
// Proof-state ids belong to one process: generation() changes whenever it restarts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "search/repl_protocol.h"

namespace wick::search {

struct ReplOptions {
  std::string command;                  // shell command line starting one REPL
  std::string cwd;                      // its working directory ("" = ours)
  std::string header;                   // sent once per process, e.g. "import Mathlib\nopen Nat"
  double timeout_seconds = 60;          // per tactic or command
  double header_timeout_seconds = 900;  // the header's import (Mathlib takes minutes)
  size_t memory_limit_bytes = 0;        // RLIMIT_AS of the process; 0 = none
  int max_commands = 0;                 // restart after this many requests; 0 = never
};

// A request that did not get a reply: the process was killed (timeout) or died (crash), or it
// answered something that is not the protocol.
struct ReplFailure : std::runtime_error {
  enum class Kind { kTimeout, kCrashed, kProtocol } kind;
  ReplFailure(Kind k, const std::string& what) : std::runtime_error(what), kind(k) {}
};

class LeanRepl {
 public:
  explicit LeanRepl(ReplOptions opts);
  ~LeanRepl();
  LeanRepl(const LeanRepl&) = delete;
  LeanRepl& operator=(const LeanRepl&) = delete;

  // The header's environment, starting the process and importing the header if needed.
  int header_env();
  CommandReply command(const std::string& cmd, int env);
  TacticReply tactic(const std::string& tactic, int proof_state);

  void restart();  // kill now; the next request starts a new process
  uint64_t generation() const { return generation_; }
  int requests_since_start() const { return requests_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

 private:
  void start();
  void kill_process();
  json request(const std::string& framed, double timeout_seconds);

  ReplOptions opts_;
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1;  // the process's stdin (we write), stdout (we read)
  std::string buffer_;
  int header_env_ = -1;
  int requests_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace wick::search
