#include "search/lean_repl.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

namespace wick::search {
namespace {

using Clock = std::chrono::steady_clock;

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

LeanRepl::LeanRepl(ReplOptions opts) : opts_(std::move(opts)) {
  // Writing to a REPL that just died must be an error we handle, not a signal that kills us.
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGPIPE, SIG_IGN); });
}

LeanRepl::~LeanRepl() { kill_process(); }

void LeanRepl::start() {
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0)
    throw ReplFailure(ReplFailure::Kind::kCrashed, std::string("cannot create pipes: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) throw ReplFailure(ReplFailure::Kind::kCrashed, std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // The child: its own process group (so a timeout kills `lake env` and the REPL under it),
    // the memory limit, the working directory, stdin/stdout on our pipes, stderr discarded.
    setpgid(0, 0);
    if (opts_.memory_limit_bytes > 0) {
      rlimit lim{opts_.memory_limit_bytes, opts_.memory_limit_bytes};
      setrlimit(RLIMIT_AS, &lim);
    }
    if (!opts_.cwd.empty() && chdir(opts_.cwd.c_str()) != 0) _exit(126);
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    signal(SIGPIPE, SIG_DFL);
    execl("/bin/sh", "sh", "-c", opts_.command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);  // also from here: no race with the child's own call
  close(to_child[0]);
  close(from_child[1]);
  pid_ = pid;
  in_fd_ = to_child[1];
  out_fd_ = from_child[0];
  buffer_.clear();
  header_env_ = -1;
  requests_ = 0;
  ++generation_;
}

void LeanRepl::kill_process() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (in_fd_ >= 0) close(in_fd_);
  if (out_fd_ >= 0) close(out_fd_);
  pid_ = -1;
  in_fd_ = out_fd_ = -1;
  buffer_.clear();
  header_env_ = -1;
}

void LeanRepl::restart() { kill_process(); }

json LeanRepl::request(const std::string& framed, double timeout_seconds) {
  if (pid_ <= 0) start();
  ++requests_;
  if (!write_all(in_fd_, framed)) {
    kill_process();
    throw ReplFailure(ReplFailure::Kind::kCrashed, "the REPL process is gone (writing failed)");
  }
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_seconds));
  for (;;) {
    const size_t end = buffer_.find("\n\n");
    if (end != std::string::npos) {
      std::string text = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      // Skip stray blank lines before a reply.
      const size_t first = text.find_first_not_of(" \r\n\t");
      if (first == std::string::npos) continue;
      json j = json::parse(text, nullptr, false);
      if (j.is_discarded()) {
        kill_process();
        throw ReplFailure(ReplFailure::Kind::kProtocol, "the REPL answered something that is not JSON: " + text.substr(0, 200));
      }
      return j;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      kill_process();
      throw ReplFailure(ReplFailure::Kind::kTimeout, "the REPL did not answer within " + std::to_string(timeout_seconds) + " s");
    }
    pollfd p{out_fd_, POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      kill_process();
      throw ReplFailure(ReplFailure::Kind::kCrashed, "the REPL process exited");
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

int LeanRepl::header_env() {
  if (opts_.max_commands > 0 && requests_ >= opts_.max_commands) kill_process();  // its memory only grows
  if (pid_ > 0 && header_env_ >= 0) return header_env_;
  if (pid_ <= 0) start();
  const CommandReply r = parse_command_reply(request(command_request(opts_.header, -1), opts_.header_timeout_seconds));
  if (r.has_errors()) {
    std::string why = r.error;
    for (const auto& m : r.messages)
      if (m.severity == "error") why += (why.empty() ? "" : "; ") + m.data;
    kill_process();
    throw ReplFailure(ReplFailure::Kind::kProtocol, "the proof header does not compile: " + why);
  }
  header_env_ = r.env;
  return header_env_;
}

CommandReply LeanRepl::command(const std::string& cmd, int env) {
  try {
    return parse_command_reply(request(command_request(cmd, env), opts_.timeout_seconds));
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const ReplFailure*>(&e)) throw;
    kill_process();
    throw ReplFailure(ReplFailure::Kind::kProtocol, e.what());
  }
}

TacticReply LeanRepl::tactic(const std::string& tactic, int proof_state) {
  try {
    return parse_tactic_reply(request(tactic_request(tactic, proof_state), opts_.timeout_seconds));
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const ReplFailure*>(&e)) throw;
    kill_process();
    throw ReplFailure(ReplFailure::Kind::kProtocol, e.what());
  }
}

}  // namespace wick::search
