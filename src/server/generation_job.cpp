#include "server/generation_job.h"

#include "server/api_error.h"

namespace wick::server {

GenerationJob::GenerationJob(Scheduler& scheduler, Metrics& metrics, std::string model_name, bool stream)
    : scheduler_(scheduler), metrics_(metrics), model_(std::move(model_name)), stream_(stream), start_(Clock::now()) {}

GenerationJob::~GenerationJob() {
  cancel();
  wait();  // the callbacks point at this job: it must outlive them
}

void GenerationJob::submit(std::vector<SchedulerRequest> requests) {
  int total = 0;
  for (const auto& r : requests) total += r.n;
  results_.resize(static_cast<size_t>(total));
  last_token_.assign(static_cast<size_t>(total), start_);
  int base = 0;
  for (auto& r : requests) {
    const int offset = base;
    base += r.n;
    r.callbacks.on_token = [this, offset](const TokenEvent& t) {
      const auto now = Clock::now();
      std::lock_guard<std::mutex> lock(mu_);
      const size_t c = static_cast<size_t>(offset + t.choice);
      if (!first_token_seen_) {
        first_token_seen_ = true;
        metrics_.time_to_first_token(model_, std::chrono::duration<double>(now - start_).count());
      } else if (last_token_[c] != start_) {
        metrics_.inter_token_latency(model_, std::chrono::duration<double>(now - last_token_[c]).count());
      }
      last_token_[c] = now;
      if (!stream_) return;
      JobEvent e;
      e.kind = JobEvent::Kind::kToken;
      e.choice = offset + t.choice;
      e.token = t.token;
      e.logprob = t.logprob;
      if (t.top) e.top = *t.top;
      e.text = t.text;
      events_.push_back(std::move(e));
      cv_.notify_all();
    };
    r.callbacks.on_choice_done = [this, offset](int choice, GenerateResult&& result) {
      std::lock_guard<std::mutex> lock(mu_);
      results_[static_cast<size_t>(offset + choice)] = result;
      if (stream_) {
        JobEvent e;
        e.kind = JobEvent::Kind::kChoiceDone;
        e.choice = offset + choice;
        e.result = std::move(result);
        events_.push_back(std::move(e));
      }
      cv_.notify_all();
    };
    r.callbacks.on_done = [this, offset](const Error* err) {
      std::lock_guard<std::mutex> lock(mu_);
      if (err && !error_) error_ = *err;
      --pending_;
      if (pending_ == 0) {
        std::string reason = "stop";
        if (error_)
          reason = error_->code() == ErrorCode::kCancelled ? "abort" : "error";
        else
          for (const auto& res : results_)
            if (res.finish_reason == "length") reason = "length";
        metrics_.request_finished(model_, reason, std::chrono::duration<double>(Clock::now() - start_).count());
      }
      cv_.notify_all();
    };
  }
  for (auto& r : requests) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++pending_;
    }
    auto id = scheduler_.submit(std::move(r));
    if (!id) {
      std::lock_guard<std::mutex> lock(mu_);
      --pending_;
      const Error e = id.error();
      // Refused: nothing of this request may run.
      for (RequestId done_id : ids_) scheduler_.cancel(done_id);
      error_ = e;
      throw from_error(e);
    }
    std::lock_guard<std::mutex> lock(mu_);
    ids_.push_back(id.value());
  }
}

bool GenerationJob::next(JobEvent& e, double timeout_s) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::duration<double>(timeout_s), [&] { return !events_.empty() || pending_ == 0; });
  if (events_.empty()) return false;
  e = std::move(events_.front());
  events_.pop_front();
  return true;
}

bool GenerationJob::done() {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_ == 0 && events_.empty();
}

void GenerationJob::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return pending_ == 0; });
}

void GenerationJob::cancel() {
  std::vector<RequestId> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_ == 0) return;
    ids = ids_;
  }
  for (RequestId id : ids) scheduler_.cancel(id);
}

std::optional<Error> GenerationJob::error() {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

}  // namespace wick::server
