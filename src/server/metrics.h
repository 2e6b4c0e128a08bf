// Prometheus metrics under the names vLLM exports, which Kubernetes' Gateway API Inference
// Extension and llm-d read to route requests: gauges of running / waiting requests and KV-cache
// use, token counters, finished requests by reason, and latency histograms (time to first
// token, inter-token latency, end-to-end), each labelled with model_name. Gauges and token
// counters come from the schedulers at scrape time; latencies and outcomes are recorded as
// requests run.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/model_pool.h"

namespace wick::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // Appends name_bucket{labels,le=...}, name_sum and name_count lines.
  void render(const std::string& name, const std::string& labels, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  void time_to_first_token(const std::string& model, double seconds);
  void inter_token_latency(const std::string& model, double seconds);
  void request_finished(const std::string& model, const std::string& finished_reason, double e2e_seconds);
  // The Prometheus text exposition of everything, with the pool's models' current state.
  std::string render(const ModelPool& pool);

 private:
  struct PerModel {
    PerModel();
    Histogram ttft, itl, e2e;
    std::map<std::string, uint64_t> success;  // by finished_reason
  };
  PerModel& of(const std::string& model);
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<PerModel>> models_;
};

}  // namespace wick::server
