#include "server/metrics.h"

#include <cstdio>

namespace wick::server {
namespace {

// vLLM's bucket boundaries (vllm/v1/metrics/loggers.py).
const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25,  0.5,   0.75,
                                          1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kItlBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                         0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
const std::vector<double> kE2eBuckets = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                                         30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// A label value escaped for the exposition format (backslash, quote, newline).
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& labels, std::string& out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum{" + labels + "} " + num(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

Metrics::PerModel::PerModel() : ttft(kTtftBuckets), itl(kItlBuckets), e2e(kE2eBuckets) {}

Metrics::PerModel& Metrics::of(const std::string& model) {
  auto& p = models_[model];
  if (!p) p = std::make_unique<PerModel>();
  return *p;
}

void Metrics::time_to_first_token(const std::string& model, double s) {
  std::lock_guard<std::mutex> lock(mu_);
  of(model).ttft.observe(s);
}

void Metrics::inter_token_latency(const std::string& model, double s) {
  std::lock_guard<std::mutex> lock(mu_);
  of(model).itl.observe(s);
}

void Metrics::request_finished(const std::string& model, const std::string& reason, double e2e) {
  std::lock_guard<std::mutex> lock(mu_);
  PerModel& m = of(model);
  ++m.success[reason];
  m.e2e.observe(e2e);
}

std::string Metrics::render(const ModelPool& pool) {
  struct Row {
    std::string name;
    SchedulerStats st;
  };
  std::vector<Row> rows;
  for (const auto& lm : pool.loaded()) rows.push_back({lm->name, lm->scheduler->stats()});
  std::string out;
  auto label = [](const std::string& model) { return "model_name=\"" + esc(model) + "\""; };
  auto gauge = [&](const char* name, const char* help, auto value) {
    header(out, name, "gauge", help);
    for (const Row& r : rows) out += std::string(name) + "{" + label(r.name) + "} " + num(static_cast<double>(value(r.st))) + "\n";
  };
  auto counter = [&](const char* name, const char* help, auto value) {
    header(out, name, "counter", help);
    for (const Row& r : rows) out += std::string(name) + "{" + label(r.name) + "} " + num(static_cast<double>(value(r.st))) + "\n";
  };
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.", [](const SchedulerStats& s) { return s.running; });
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", [](const SchedulerStats& s) { return s.waiting; });
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.",
        [](const SchedulerStats& s) { return s.kv.total_blocks > 0 ? static_cast<double>(s.kv.used_blocks) / s.kv.total_blocks : 0.0; });
  header(out, "vllm:cache_config_info", "gauge", "Information of the KV cache configuration.");
  for (const Row& r : rows)
    out += "vllm:cache_config_info{block_size=\"" + std::to_string(r.st.kv.block_size) + "\",num_gpu_blocks=\"" +
           std::to_string(r.st.kv.total_blocks) + "\"," + label(r.name) + "} 1\n";
  counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", [](const SchedulerStats& s) { return s.prompt_tokens; });
  counter("vllm:generation_tokens_total", "Number of generation tokens processed.",
          [](const SchedulerStats& s) { return s.generation_tokens; });
  counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in tokens.",
          [](const SchedulerStats& s) { return s.prefix_cache_queries; });
  counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in tokens.", [](const SchedulerStats& s) { return s.prefix_cache_hits; });
  counter("vllm:num_preemptions_total", "Cumulative number of preemptions.", [](const SchedulerStats& s) { return s.preemptions; });
  gauge("wick:kv_cache_cached_blocks", "KV blocks held only by the prefix cache (evictable).",
        [](const SchedulerStats& s) { return s.kv.cached_blocks; });

  std::lock_guard<std::mutex> lock(mu_);
  header(out, "vllm:request_success_total", "counter", "Count of finished requests, by finished reason.");
  for (const auto& [model, m] : models_)
    for (const auto& [reason, n] : m->success)
      out += "vllm:request_success_total{finished_reason=\"" + esc(reason) + "\"," + label(model) + "} " + std::to_string(n) + "\n";
  header(out, "vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.");
  for (const auto& [model, m] : models_) m->ttft.render("vllm:time_to_first_token_seconds", label(model), out);
  header(out, "vllm:inter_token_latency_seconds", "histogram", "Histogram of inter-token latency in seconds.");
  for (const auto& [model, m] : models_) m->itl.render("vllm:inter_token_latency_seconds", label(model), out);
  header(out, "vllm:e2e_request_latency_seconds", "histogram", "Histogram of end to end request latency in seconds.");
  for (const auto& [model, m] : models_) m->e2e.render("vllm:e2e_request_latency_seconds", label(model), out);
  return out;
}

}  // namespace wick::server
