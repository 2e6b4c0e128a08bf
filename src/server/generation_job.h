// One HTTP request's work on a model's scheduler: one scheduler request per prompt (n choices
// each; choice i of prompt p is the response's choice p * n + i). The scheduler's callbacks run
// on its thread and only queue events here; the HTTP thread either waits for the results or
// takes the events one by one to stream them. Latency metrics (time to first token,
// inter-token latency, end-to-end, finished reason) are recorded as the events arrive.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/metrics.h"
#include "wick/scheduler.h"

namespace wick::server {

struct JobEvent {
  enum class Kind { kToken, kChoiceDone } kind = Kind::kToken;
  int choice = 0;
  int token = -1;
  float logprob = 0;
  std::vector<TokenLogprob> top;
  std::string text;
  GenerateResult result;  // kChoiceDone
};

class GenerationJob {
 public:
  // stream: queue a kToken event per token (else only the results are kept).
  GenerationJob(Scheduler& scheduler, Metrics& metrics, std::string model_name, bool stream);
  // Cancels whatever still runs and waits for the scheduler to let go of it.
  ~GenerationJob();
  GenerationJob(const GenerationJob&) = delete;
  GenerationJob& operator=(const GenerationJob&) = delete;

  // Submits every request (their on_prompt_rows / on_restart are kept; the other callbacks are
  // the job's). All-or-nothing: if one is refused, the others are cancelled and the error is
  // thrown as an ApiError (400 bad request, 429 queue full).
  void submit(std::vector<SchedulerRequest> requests);

  // The next event, waiting up to timeout_s; false if none came (see done()).
  bool next(JobEvent& e, double timeout_s);
  // Every request has ended and every event has been taken.
  bool done();
  void wait();                   // until every request has ended
  void cancel();                 // e.g. the client went away
  std::optional<Error> error();  // the first request that failed, once done

  std::vector<GenerateResult>& results() { return results_; }  // by choice, once done
  int choices() const { return static_cast<int>(results_.size()); }

 private:
  using Clock = std::chrono::steady_clock;
  Scheduler& scheduler_;
  Metrics& metrics_;
  std::string model_;
  bool stream_;
  Clock::time_point start_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobEvent> events_;
  std::vector<RequestId> ids_;
  int pending_ = 0;  // submitted requests whose on_done has not come
  std::optional<Error> error_;
  bool first_token_seen_ = false;
  std::vector<Clock::time_point> last_token_;  // per choice
  std::vector<GenerateResult> results_;
};

}  // namespace wick::server
