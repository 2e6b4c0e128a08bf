// wick-loadgen: a load generator for OpenAI-compatible streaming completion servers (wick serve,
// llama.cpp's llama-server, vLLM), the one tool both sides of a comparison are measured with.
//
//   wick-loadgen --url http://127.0.0.1:8080 -c 32 -n 128 --max-tokens 64 [--shared-prefix-words 400] [--json]
//
// C client threads each send streaming POST /v1/completions requests until N
// requests are done; every response is checked (HTTP 200, well-formed SSE events of JSON
// chunks, a finish_reason, "data: [DONE]" last) and timed: time to first token (first chunk with
// text), inter-token latency (between chunks with text), end to end. Generated tokens are the
// usage the server reports (stream_options.include_usage), else the chunks with text.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* const kWords[] = {"the",    "cat",    "sat",  "on",    "a",     "mat",  "and",   "then",   "it",     "ran",    "to",
                              "big",    "red",    "ball", "in",    "park",  "with", "her",   "friend", "who",    "was",    "very",
                              "happy",  "one",    "day",  "they",  "saw",   "bird", "tree",  "sun",    "little", "girl",   "boy",
                              "dog",    "played", "went", "home",  "said",  "mom",  "dad",   "good",   "night",  "water",  "fish",
                              "swim",   "jump",   "look", "funny", "toy",   "car",  "box",   "green",  "blue",   "yellow", "house",
                              "garden", "flower", "rain", "snow",  "cold",  "warm", "apple", "cake",   "eat",    "drink",  "milk",
                              "sleep",  "bed",    "book", "read",  "story", "sing", "song",  "dance",  "laugh"};

struct Options {
  std::string url = "http://127.0.0.1:8080", endpoint = "/v1/completions", model, api_key, prompt;
  int concurrency = 8, requests = 64, max_tokens = 64, prompt_words = 32, shared_prefix_words = 0, warmup = 0;
  double temperature = 1.0;
  bool ignore_eos = false, as_json = false;
};

struct Sample {
  bool ok = false;
  std::string error;
  double ttft = -1, e2e = 0;
  std::vector<double> itl;
  int64_t tokens = 0, prompt_tokens = -1;
};

std::string words(std::mt19937& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kWords[rng() % (sizeof kWords / sizeof kWords[0])];
  }
  return s;
}

std::string prompt_for(const Options& o, int index) {
  if (!o.prompt.empty()) return o.prompt;
  std::mt19937 prefix_rng(12345);
  std::mt19937 rng(static_cast<unsigned>(1000 + index));
  std::string p;
  if (o.shared_prefix_words > 0) p = words(prefix_rng, o.shared_prefix_words) + " ";
  return p + words(rng, o.prompt_words);
}

// One streaming request, parsed and checked as it arrives.
Sample run_one(httplib::Client& cli, const Options& o, int index) {
  Sample s;
  json body = {{"prompt", prompt_for(o, index)},
               {"max_tokens", o.max_tokens},
               {"temperature", o.temperature},
               {"seed", index},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (!o.model.empty()) body["model"] = o.model;
  if (o.ignore_eos) body["ignore_eos"] = true;
  httplib::Request req;
  req.method = "POST";
  req.path = o.endpoint;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!o.api_key.empty()) req.set_header("Authorization", "Bearer " + o.api_key);
  std::string buf;
  bool done = false, finished = false;
  int64_t chunks_with_text = 0;
  Clock::time_point last;
  const auto start = Clock::now();
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    buf.append(data, len);
    size_t at;
    while ((at = buf.find("\n\n")) != std::string::npos) {
      const std::string event = buf.substr(0, at);
      buf.erase(0, at + 2);
      if (event.rfind("data: ", 0) != 0) continue;  // ": keep-alive" comments
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") {
        done = true;
        continue;
      }
      if (done) {
        s.error = "data after [DONE]";
        return false;
      }
      json j = json::parse(payload, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        s.error = "a chunk is not JSON: " + payload.substr(0, 200);
        return false;
      }
      if (j.contains("error")) {
        s.error = "error event: " + j["error"].dump();
        return false;
      }
      if (j.contains("usage") && j["usage"].is_object()) {
        s.tokens = j["usage"].value("completion_tokens", int64_t{0});
        s.prompt_tokens = j["usage"].value("prompt_tokens", int64_t{-1});
      }
      if (!j.contains("choices") || !j["choices"].is_array()) {
        s.error = "a chunk without choices";
        return false;
      }
      for (const auto& c : j["choices"]) {
        if (c.contains("finish_reason") && c["finish_reason"].is_string()) finished = true;
        std::string text;
        if (c.contains("text") && c["text"].is_string())
          text = c["text"];
        else if (c.contains("delta") && c["delta"].is_object() && c["delta"].contains("content") && c["delta"]["content"].is_string())
          text = c["delta"]["content"];
        if (text.empty()) continue;
        const auto now = Clock::now();
        if (s.ttft < 0)
          s.ttft = std::chrono::duration<double>(now - start).count();
        else
          s.itl.push_back(std::chrono::duration<double>(now - last).count());
        last = now;
        ++chunks_with_text;
      }
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  const bool sent = cli.send(req, res, err);
  s.e2e = std::chrono::duration<double>(Clock::now() - start).count();
  if (!s.error.empty()) return s;
  if (!sent) {
    s.error = "request failed: " + httplib::to_string(err);
    return s;
  }
  if (res.status != 200) {
    s.error = "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 300);
    return s;
  }
  if (!done)
    s.error = "the stream did not end with [DONE]";
  else if (!finished)
    s.error = "no finish_reason";
  if (s.tokens == 0) s.tokens = chunks_with_text;
  s.ok = s.error.empty();
  return s;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"wick-loadgen: streaming completion load against an OpenAI-compatible server"};
  app.add_option("--url", o.url, "server base URL");
  app.add_option("--endpoint", o.endpoint, "completions endpoint");
  app.add_option("--model", o.model, "model name (omitted if empty)");
  app.add_option("--api-key", o.api_key, "bearer token");
  app.add_option("-c,--concurrency", o.concurrency, "clients sending at once")->check(CLI::Range(1, 4096));
  app.add_option("-n,--requests", o.requests, "requests in total (after the warm-up)")->check(CLI::Range(1, 1000000));
  app.add_option("--warmup", o.warmup, "requests sent (and not measured) first");
  app.add_option("--max-tokens", o.max_tokens, "max_tokens of every request");
  app.add_option("--prompt", o.prompt, "the same prompt for every request");
  app.add_option("--prompt-words", o.prompt_words, "random words per prompt (unique per request)");
  app.add_option("--shared-prefix-words", o.shared_prefix_words, "words every prompt starts with (prefix caching)");
  app.add_option("--temperature", o.temperature, "sampling temperature (seed = request index)");
  app.add_flag("--ignore-eos", o.ignore_eos, "ask for max_tokens every time (vLLM/wick extension; llama.cpp ignores it)");
  app.add_flag("--json", o.as_json, "print one JSON object");
  CLI11_PARSE(app, argc, argv);

  auto run_phase = [&](int total, std::vector<Sample>& out) {
    std::atomic<int> next{0};
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < std::min(o.concurrency, total); ++t)
      threads.emplace_back([&] {
        httplib::Client cli(o.url);
        cli.set_read_timeout(600, 0);
        // One connection per request: servers close kept-alive connections after a few requests
        // (cpp-httplib's default is 5), and a request on a closed one fails; a loopback connect
        // costs ~0.1 ms.
        cli.set_keep_alive(false);
        cli.set_tcp_nodelay(true);
        for (int i; (i = next++) < total;) {
          Sample s = run_one(cli, o, i);
          std::lock_guard<std::mutex> lock(mu);
          out.push_back(std::move(s));
        }
      });
    for (auto& th : threads) th.join();
  };
  std::vector<Sample> warm, samples;
  if (o.warmup > 0) run_phase(o.warmup, warm);
  const auto t0 = Clock::now();
  run_phase(o.requests, samples);
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

  int ok = 0;
  int64_t tokens = 0, prompt_tokens = 0;
  std::vector<double> ttft, itl, e2e;
  std::vector<std::string> errors;
  for (const Sample& s : samples) {
    if (!s.ok) {
      if (errors.size() < 10) errors.push_back(s.error);
      continue;
    }
    ++ok;
    tokens += s.tokens;
    prompt_tokens += std::max<int64_t>(s.prompt_tokens, 0);
    if (s.ttft >= 0) ttft.push_back(s.ttft);
    itl.insert(itl.end(), s.itl.begin(), s.itl.end());
    e2e.push_back(s.e2e);
  }
  json out = {{"requests", o.requests},
              {"ok", ok},
              {"errors", o.requests - ok},
              {"error_samples", errors},
              {"concurrency", o.concurrency},
              {"wall_seconds", wall},
              {"generated_tokens", tokens},
              {"prompt_tokens", prompt_tokens},
              {"tokens_per_second", wall > 0 ? tokens / wall : 0},
              {"requests_per_second", wall > 0 ? ok / wall : 0},
              {"ttft_p50", percentile(ttft, 50)},
              {"ttft_p99", percentile(ttft, 99)},
              {"itl_p50", percentile(itl, 50)},
              {"itl_p99", percentile(itl, 99)},
              {"e2e_p50", percentile(e2e, 50)},
              {"e2e_p99", percentile(e2e, 99)}};
  if (o.as_json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%d/%d ok, %.1f s: %.1f generated tokens/s, TTFT p50 %.1f ms p99 %.1f ms, ITL p50 %.1f ms\n", ok, o.requests, wall,
                out["tokens_per_second"].get<double>(), 1e3 * out["ttft_p50"].get<double>(), 1e3 * out["ttft_p99"].get<double>(),
                1e3 * out["itl_p50"].get<double>());
    for (const auto& e : errors) std::printf("  error: %s\n", e.c_str());
  }
  return ok == o.requests ? 0 : 1;
}
