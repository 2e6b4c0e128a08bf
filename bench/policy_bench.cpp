// Policy API benchmark: candidates/s and generated tokens/s of generate_candidates for several
// n at a fixed prompt length, against n sequential generate calls (each prefilling the prompt
// again, as a caller without the batched API would), and embeddings/s for batches of texts.
// Token ids are drawn at random (a random-weight model has no preferred text) and EOS is
// ignored, so every sequence runs to max_new_tokens.
// Usage: wick_policy_bench -m MODEL_DIR [--prompt 256] [--new 16] [--n 1,8,32]
//          [--sequential-max 8] [--embed-tokens 200] [--embed-batches 1,8,32] [--threads T] [--json]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "wick/embedder.h"
#include "wick/generator.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<int> random_tokens(int n, int vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(3, vocab - 1);
  std::vector<int> t(static_cast<size_t>(n));
  for (int& x : t) x = d(rng);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wick policy benchmark: candidates/s and embeddings/s"};
  std::string dir;
  int prompt_len = 256, new_tokens = 16, sequential_max = 8, embed_tokens = 200, threads = 0;
  std::vector<int> ns = {1, 8, 32}, batches = {1, 8, 32};
  bool as_json = false;
  app.add_option("-m,--model", dir, "model directory")->required();
  app.add_option("--prompt", prompt_len, "prompt tokens");
  app.add_option("--new", new_tokens, "tokens generated per candidate");
  app.add_option("--n", ns, "numbers of candidates")->delimiter(',');
  app.add_option("--sequential-max", sequential_max, "largest n also run as n sequential generations");
  app.add_option("--embed-tokens", embed_tokens, "tokens per embedded text");
  app.add_option("--embed-batches", batches, "texts per encode call")->delimiter(',');
  app.add_option("--threads", threads, "threads (0 = all cores)");
  app.add_flag("--json", as_json, "print one JSON object");
  CLI11_PARSE(app, argc, argv);

  auto model = wick::Model::load(dir);
  if (!model) {
    std::fprintf(stderr, "error: %s\n", model.error().what());
    return 1;
  }
  const auto& cfg = model.value()->config();
  std::mt19937 rng(1);
  wick::EngineOptions o;
  o.n_threads = threads;
  o.context_length = std::min(cfg.max_context(), 4096);
  o.kv_cache_tokens = std::max(8192, prompt_len + 64 * (new_tokens + 32));
  auto gen = wick::Generator::create(model.value(), o);
  if (!gen) {
    std::fprintf(stderr, "error: %s\n", gen.error().what());
    return 1;
  }
  const auto prompt = random_tokens(prompt_len, cfg.vocab_size, rng);
  wick::GenerateParams p;
  p.sampling.temperature = 1.0f;
  p.sampling.seed = 7;
  p.max_new_tokens = new_tokens;
  p.ignore_eos = true;
  nlohmann::json out = {{"model", dir},
                        {"backend", gen.value()->engine().backend_name()},
                        {"prompt_tokens", prompt_len},
                        {"new_tokens", new_tokens},
                        {"candidates", nlohmann::json::array()},
                        {"embeddings", nlohmann::json::array()}};
  if (!as_json)
    std::printf("%s, %s, prompt %d tokens, %d new tokens per candidate\n\n%4s %12s %12s %12s %14s %14s %9s\n", dir.c_str(),
                gen.value()->engine().backend_name().c_str(), prompt_len, new_tokens, "n", "batched s", "cand/s", "tok/s", "sequential s",
                "seq cand/s", "speed-up");
  {  // warm-up: first touch of the KV pages and scratch buffers
    wick::GenerateParams w = p;
    w.max_new_tokens = 2;
    if (!gen.value()->generate_candidates_from_tokens(prompt, 2, w)) return 1;
  }
  for (int n : ns) {
    auto t0 = Clock::now();
    auto r = gen.value()->generate_candidates_from_tokens(prompt, n, p);
    const double batched = since(t0);
    if (!r) {
      std::fprintf(stderr, "error: %s\n", r.error().what());
      return 1;
    }
    double sequential = -1;
    if (n <= sequential_max) {
      t0 = Clock::now();
      for (int i = 0; i < n; ++i) {
        wick::GenerateParams one = p;
        one.sampling.seed = wick::sequence_seed(p.sampling.seed, i);
        if (!gen.value()->generate_from_tokens(prompt, one)) return 1;
      }
      sequential = since(t0);
    }
    const double tok_s = r->generated_tokens / batched;
    out["candidates"].push_back({{"n", n},
                                 {"batched_seconds", batched},
                                 {"candidates_per_second", n / batched},
                                 {"generated_tokens_per_second", tok_s},
                                 {"prefill_seconds", r->prefill_seconds},
                                 {"sequential_seconds", sequential},
                                 {"speedup", sequential > 0 ? sequential / batched : 0}});
    if (!as_json) {
      if (sequential > 0)
        std::printf("%4d %12.2f %12.2f %12.1f %14.2f %14.2f %8.2fx\n", n, batched, n / batched, tok_s, sequential, n / sequential,
                    sequential / batched);
      else
        std::printf("%4d %12.2f %12.2f %12.1f %14s %14s %9s\n", n, batched, n / batched, tok_s, "-", "-", "-");
      std::fflush(stdout);
    }
  }
  wick::EngineOptions eo = o;
  auto emb = wick::Embedder::create(model.value(), eo);
  if (!emb) return 1;
  if (!as_json) std::printf("\n%6s %12s %14s %14s\n", "texts", "seconds", "embeddings/s", "tokens/s");
  for (int b : batches) {
    std::vector<std::vector<int>> texts;
    for (int i = 0; i < b; ++i) texts.push_back(random_tokens(embed_tokens, cfg.vocab_size, rng));
    auto t0 = Clock::now();
    auto e = emb.value()->encode_tokens(texts);
    const double s = since(t0);
    if (!e) {
      std::fprintf(stderr, "error: %s\n", e.error().what());
      return 1;
    }
    out["embeddings"].push_back({{"texts", b},
                                 {"tokens_per_text", embed_tokens},
                                 {"seconds", s},
                                 {"embeddings_per_second", b / s},
                                 {"tokens_per_second", b * embed_tokens / s}});
    if (!as_json) {
      std::printf("%6d %12.2f %14.2f %14.1f\n", b, s, b / s, b * embed_tokens / s);
      std::fflush(stdout);
    }
  }
  if (as_json) std::printf("%s\n", out.dump().c_str());
  return 0;
}
