// What the endpoint handlers share: the server's options, model pool and metrics; the
// per-request access-log record; turning sampling fields into GenerateParams; the context-length
// check; and streaming a job's events as Server-Sent Events.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/generation_job.h"
#include "server/metrics.h"
#include "server/model_pool.h"
#include "server/request_parsing.h"

namespace wick::server {

struct ServeOptions {
  std::vector<std::pair<std::string, std::string>> models;  // name, path; the first is the default
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (printed at start)
  std::string api_key;               // "": no authentication
  int max_queue = 256;               // requests waiting per model beyond which 429
  size_t max_body_bytes = 16 << 20;  // larger bodies: 413
  int http_threads = 128;            // concurrent connections served
  PoolOptions pool;
  double shutdown_grace_seconds = 30;  // SIGTERM: in-flight requests get this long to finish
  bool access_log = true;
};

struct ServerContext {
  ModelPool& pool;
  Metrics& metrics;
  const ServeOptions& opts;
};

// The access-log fields a handler knows (one record per request, per connection thread).
struct AccessInfo {
  std::string model;
  int64_t prompt_tokens = -1, completion_tokens = -1;
};
AccessInfo& access_info();

void reply_json(httplib::Response& res, int status, const json& body);
void reply_error(httplib::Response& res, const ApiError& e);

// The seed of a request: the one given, else a fresh random one.
uint64_t request_seed(const SamplingRequest& s);
GenerateParams generate_params(const SamplingRequest& s, int max_tokens);
std::vector<int> encode(const LoadedModel& m, const std::string& text, bool add_special, const char* field);
// 400 naming both numbers when prompt + max_tokens exceeds the context.
void check_context(const LoadedModel& m, int64_t prompt_tokens, int64_t max_tokens);
// core/limits.h's rules as 400s naming the request field: every id inside the vocabulary, and
// one input of `tokens` within the context ("input 2 (600 tokens) exceeds ...").
void check_tokens(const std::vector<int>& ids, int64_t vocab, const char* field);
void check_input_fits(size_t index, size_t tokens, int64_t context_length, const char* field);
// The max_tokens of a request: given, else `fallback` (-1: what the context leaves).
int max_tokens_of(const LoadedModel& m, const SamplingRequest& s, int64_t prompt_tokens, int64_t fallback);

// A streamed response: begin() writes the first events, event() each job event, end() the
// last ones (the caller's end() sees job->error() to send an error event instead).
struct StreamBody {
  virtual ~StreamBody() = default;
  virtual void begin(std::string& out) {}
  virtual void event(JobEvent& e, std::string& out) = 0;
  virtual void end(std::string& out) = 0;
  // Destroyed in reverse order: the job first (it waits for the scheduler to let go), then what
  // its callbacks write into, then the model.
  ModelPool::Lease lease;       // keeps the model loaded while streaming
  std::shared_ptr<void> state;  // what the job's callbacks use (e.g. prompt log-prob sinks)
  std::unique_ptr<GenerationJob> job;
};
// Sends `body` as text/event-stream: ": keep-alive" comments every second without events
// (a long prefill), and a failed write (the client went away) cancels the job, which frees its
// KV blocks at once.
void stream(httplib::Response& res, std::shared_ptr<StreamBody> body);
// The error event of a stream that failed after it started, then [DONE].
std::string stream_error(const Error& e);

// Endpoint handlers (one file each).
void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_chat(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_apply_template(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_candidates(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_score(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_execute(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);

}  // namespace wick::server
