#include "server/server_context.h"

#include <random>

#include "core/limits.h"
#include "server/openai_format.h"

namespace wick::server {

AccessInfo& access_info() {
  thread_local AccessInfo info;
  return info;
}

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void reply_error(httplib::Response& res, const ApiError& e) {
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
  reply_json(res, e.status, error_json(e));
}

uint64_t request_seed(const SamplingRequest& s) {
  if (s.seed) return *s.seed;
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

GenerateParams generate_params(const SamplingRequest& s, int max_tokens) {
  GenerateParams p;
  p.sampling = s.sampling;
  p.sampling.seed = request_seed(s);
  p.max_new_tokens = max_tokens;
  p.stop = s.stop;
  p.stop_token_ids = s.stop_token_ids;
  p.ignore_eos = s.ignore_eos;
  return p;
}

std::vector<int> encode(const LoadedModel& m, const std::string& text, bool add_special, const char* field) {
  auto ids = m.model->tokenizer().encode(text, {add_special, true});
  if (!ids) throw bad_request(std::string(field) + ": " + ids.error().what(), field);
  return std::move(ids.value());
}

void check_context(const LoadedModel& m, int64_t prompt, int64_t max_tokens) {
  const int64_t ctx = m.scheduler->engine_options().context_length;
  if (prompt + max_tokens > ctx)
    throw bad_request("This model's maximum context length is " + std::to_string(ctx) + " tokens. However, you requested " +
                          std::to_string(prompt + max_tokens) + " tokens (" + std::to_string(prompt) + " in the prompt, " +
                          std::to_string(max_tokens) + " in the completion). Please reduce the length of the prompt or completion.",
                      "max_tokens");
}

void check_tokens(const std::vector<int>& ids, int64_t vocab, const char* field) {
  try {
    check_token_ids(ids.data(), ids.size(), vocab);
  } catch (const Error& e) {
    throw bad_request(e.what(), field);
  }
}

void check_input_fits(size_t index, size_t tokens, int64_t context_length, const char* field) {
  try {
    check_length_fits_context(static_cast<int64_t>(tokens), context_length, field, static_cast<int64_t>(index));
  } catch (const Error& e) {
    throw bad_request(e.what(), field);
  }
}

int max_tokens_of(const LoadedModel& m, const SamplingRequest& s, int64_t prompt, int64_t fallback) {
  const int64_t ctx = m.scheduler->engine_options().context_length;
  int64_t max_tokens = s.max_tokens ? *s.max_tokens : fallback >= 0 ? fallback : ctx - prompt;
  if (!s.max_tokens && fallback >= 0) max_tokens = std::min(max_tokens, std::max<int64_t>(0, ctx - prompt));
  if (!s.max_tokens && max_tokens <= 0) max_tokens = 1;  // the prompt alone fills the context: check_context says so
  check_context(m, prompt, max_tokens);
  return static_cast<int>(max_tokens);
}

std::string stream_error(const Error& e) { return sse(error_json(from_error(e))) + "data: [DONE]\n\n"; }

void stream(httplib::Response& res, std::shared_ptr<StreamBody> body) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider("text/event-stream", [body](size_t, httplib::DataSink& sink) {
    std::string out;
    body->begin(out);
    JobEvent e;
    for (;;) {
      const bool got = body->job->next(e, 1.0);
      if (got) {
        body->event(e, out);
        while (body->job->next(e, 0)) body->event(e, out);  // whatever else is ready: one write
      }
      if (!out.empty()) {
        if (!sink.write(out.data(), out.size())) {
          body->job->cancel();  // the client went away: free its KV blocks now
          return false;
        }
        out.clear();
      } else if (!got && !body->job->done()) {
        static const char kKeepAlive[] = ": keep-alive\n\n";
        if (!sink.write(kKeepAlive, sizeof kKeepAlive - 1)) {
          body->job->cancel();
          return false;
        }
      }
      if (!got && body->job->done()) break;
    }
    body->end(out);
    if (!out.empty() && !sink.write(out.data(), out.size())) return false;
    sink.done();
    return true;
  });
}

}  // namespace wick::server
