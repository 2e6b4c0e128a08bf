#include "bench_command.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>

#include "backends/cpu/compute_peak.h"
#include "backends/cpu/memory_bandwidth.h"
#include "core/dtype.h"
#include "wick/quantize.h"
#include "wick/embedder.h"
#include "wick/generator.h"

namespace wick::cli {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Stat {
  double mean = 0, stdev = 0;
};
Stat stat(const std::vector<double>& v) {
  Stat s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.stdev += (x - s.mean) * (x - s.mean);
  s.stdev = v.size() > 1 ? std::sqrt(s.stdev / static_cast<double>(v.size() - 1)) : 0;
  return s;
}

// Floating-point operations of one prompt token's forward pass, counting each multiply-add as
// 2: every layer's projections (q, k, v, o; gate, up, down: 2 x their weights) and attention
// (scores and weighted values: 2 x 2 x heads x head_dim per key) over the mean context of a
// prompt of `prompt` tokens after `depth` (token i sees depth + i + 1 keys). Norms, rope and
// softmax are left out (a few per cent at most), and so is the LM head (run once per prompt).
double prefill_flops_per_token(const ModelConfig& c, int depth, int prompt) {
  const double h = c.hidden_size, q = static_cast<double>(c.num_heads) * c.head_dim, kv = static_cast<double>(c.num_kv_heads) * c.head_dim;
  const double projections = h * (q + 2 * kv) + q * h + 3 * h * c.intermediate_size;
  const double mean_keys = depth + (prompt + 1) / 2.0;
  return c.num_layers * (2 * projections + 4 * q * mean_keys);
}

// The CPU instruction set a backend named "cpu-avx2" (Backend::name) runs; nullopt for others.
std::optional<CpuIsa> backend_cpu_isa(const std::string& backend_name) {
  const std::string prefix = "cpu-";
  if (backend_name.rfind(prefix, 0) != 0) return std::nullopt;
  std::string isa = backend_name.substr(prefix.size());
  isa = isa.substr(0, isa.find(' '));  // "cpu-avx2 x2": the thread count follows
  for (CpuIsa i : supported_cpu_isas())
    if (isa == cpu_isa_name(i)) return i;
  return std::nullopt;
}

// A figure as JSON: null where its measurement was not taken (-p 0: no prefill; -n 0: no decode).
nlohmann::json measured(const std::vector<double>& runs, double value) { return runs.empty() ? nlohmann::json() : nlohmann::json(value); }

double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;  // Linux reports KiB
}

// The policy workload: `candidates` continuations of 16 tokens from one 64-token prompt (one
// prefill, forked sequences decoded as a batch), and embeddings of 8 texts of ~64 tokens; one
// untimed warm-up, then `repeat` timed calls of each. Candidates / s and texts / s per call.
struct PolicyRates {
  std::vector<double> candidates, embeddings;
};
Result<PolicyRates> measure_policy(const std::shared_ptr<Model>& model, const EngineOptions& eo, int candidates, int repeat, bool tty) {
  auto gen_engine = Generator::create(model, eo);
  if (!gen_engine) return gen_engine.error();
  auto emb_engine = Embedder::create(model, eo);
  if (!emb_engine) return emb_engine.error();
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> tok(3, model->config().vocab_size - 1);
  std::vector<int> policy_prompt(64);
  for (int& t : policy_prompt) t = tok(rng);
  GenerateParams gp;
  gp.max_new_tokens = 16;
  gp.ignore_eos = true;
  std::vector<std::string> texts;
  for (int i = 0; i < 8; ++i) {
    std::string t = "Text " + std::to_string(i) + ":";
    while (t.size() < 240) t += " the quick brown fox jumps over the lazy dog";
    texts.push_back(t);
  }
  PolicyRates rates;
  for (int r = -1; r < repeat; ++r) {
    if (tty) std::fprintf(stderr, "\rbench: policy %d/%d ...", r + 1, repeat);
    gp.sampling.seed = static_cast<uint64_t>(r + 2);
    auto t0 = Clock::now();
    auto c = gen_engine.value()->generate_candidates_from_tokens(policy_prompt, candidates, gp);
    if (!c) return c.error();
    const double tc = since(t0);
    t0 = Clock::now();
    auto e = emb_engine.value()->encode(texts);
    if (!e) return e.error();
    const double te = since(t0);
    if (r < 0) continue;
    rates.candidates.push_back(candidates / tc);
    rates.embeddings.push_back(static_cast<double>(texts.size()) / te);
  }
  if (tty) std::fprintf(stderr, "\r\033[K");
  return rates;
}

}  // namespace

CLI::App* BenchCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("bench", "prompt-processing and decode speed, time to first token, memory, bandwidth use");
  c->add_option("-m,--model", model_dir, "Hugging Face model directory or GGUF file")->required();
  c->add_option("-p,--prompt", prompt, "prompt tokens (prompt processing in one batch; 0: decode only)")->check(CLI::NonNegativeNumber);
  c->add_option("-n,--gen", gen, "decode tokens (from a one-token context, as llama-bench's tg; 0: prefill only)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("-d,--depth", depth, "tokens already in the context before each measurement (llama-bench's -d), untimed")
      ->check(CLI::NonNegativeNumber);
  add_device_flags(c, &device, &threads);
  c->add_option("-r,--repeat", repeat, "repetitions (mean and standard deviation are reported)")->check(CLI::PositiveNumber);
  c->add_option("--dtype", dtype, "convert the weights at load: " + quantize_type_names());
  c->add_option("--kv-type", kv_dtype, "KV cache storage: f32 or f16");
  add_kv_block_flag(c, &kv_block);
  c->add_flag("--no-bandwidth", no_bandwidth, "skip the memory bandwidth and FMA peak measurements");
  c->add_option("--candidates", candidates, "policy: candidates per call (0 skips candidates/s and embeddings/s)");
  c->add_flag("--json", json, "print one JSON object");
  return c;
}

int BenchCommand::run() const {
  int rc = 0;
  const bool tty = isatty(2) && !json;
  if (prompt == 0 && gen == 0)
    return fail(Error(ErrorCode::kInvalidArgument, "bench: nothing to measure (-p 0 and -n 0): give prompt or decode tokens"));
  auto model = load_or_report(model_dir, &rc, dtype);
  if (!model) return rc;
  SessionOptions so;
  so.device = device;
  so.n_threads = threads;
  so.kv_dtype = kv_dtype;
  so.kv_block_size = kv_block;
  so.batch_tokens = std::max(prompt, 1);
  so.context_length = std::min(model->config().max_context(), depth + std::max(prompt, gen + 1));
  if (depth + std::max(prompt, gen + 1) > model->config().max_context())
    return fail(
        Error(ErrorCode::kInvalidArgument, "bench: depth " + std::to_string(depth) + " + " + std::to_string(std::max(prompt, gen + 1)) +
                                               " tokens exceed the model's context of " + std::to_string(model->config().max_context())));
  auto session = Session::create(model, so);
  if (!session) return fail(session.error());
  Session& s = *session.value();
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> tok(3, model->config().vocab_size - 1);
  std::vector<int> prompt_ids(static_cast<size_t>(prompt));
  for (int& t : prompt_ids) t = tok(rng);

  std::vector<int> depth_ids(static_cast<size_t>(depth));
  for (int& t : depth_ids) t = tok(rng);

  // The policy workload first, so that peak RSS is read before the bandwidth probe's buffer
  // exists (its engines are gone by then; the session's memory was all allocated up front).
  PolicyRates policy;
  if (candidates > 0) {
    EngineOptions eo;
    eo.device = device;
    eo.n_threads = threads;
    eo.kv_dtype = kv_dtype;
    eo.kv_block_size = kv_block;
    eo.context_length = std::min(model->config().max_context(), 128);
    auto rates = measure_policy(model, eo, candidates, repeat, tty);
    if (!rates) return fail(rates.error());
    policy = std::move(rates.value());
  }
  const double rss = peak_rss_bytes();
  const ModelInfo info = model->info();
  // The streaming-read bandwidth is measured right before each decode run, and each run's
  // fraction taken against its own figure: on a shared machine the bandwidth drifts by tens of
  // per cent between runs, more than the fraction's own differences.
  std::optional<ReadBandwidthProbe> probe;
  if (!no_bandwidth) {
    if (tty) std::fprintf(stderr, "\r\033[Kbench: allocating the bandwidth probe ...");
    probe.emplace(threads, bandwidth_buffer_for(info.bytes_read_per_token));
  }
  BandwidthResult bw;

  // Prompt processing of `prompt` tokens and `gen` single-token steps after the first `keep`
  // tokens of the sequence (the rest dropped first); seconds each (none where 0 tokens). With
  // `bw_out`, the bandwidth probe runs between the two.
  auto measure = [&](int keep, int gen_tokens, double& prefill, double& decode, double* bw_out) -> Result<bool> {
    if (auto cut = s.truncate(keep); !cut) return cut.error();
    auto t0 = Clock::now();
    if (!prompt_ids.empty())
      if (auto logits = s.append(prompt_ids); !logits) return logits.error();
    prefill = since(t0);
    if (auto cut = s.truncate(keep); !cut) return cut.error();
    if (bw_out && probe && gen_tokens > 0) {
      bw = probe->measure(2);
      *bw_out = bw.bytes_per_second;
    }
    int next = tok(rng);
    t0 = Clock::now();
    for (int i = 0; i < gen_tokens; ++i) {
      if (auto l = s.append(&next, 1); !l) return l.error();
      next = tok(rng);  // the token does not change the work
    }
    decode = since(t0);
    return true;
  };
  std::vector<double> pp, tg, ttft, run_bw;
  double prefill = 0, decode = 0;
  // Warm-up (pages the weights in, not reported) on an empty context, as llama-bench's.
  if (tty) std::fprintf(stderr, "\r\033[Kbench: warm-up ...");
  if (auto w = measure(0, std::min(gen, 16), prefill, decode, nullptr); !w) return fail(w.error());
  // The context is filled with `depth` tokens once, untimed (llama-bench's -d, whose later
  // repetitions restore that state); every measurement then starts from those tokens.
  if (depth > 0) {
    if (tty) std::fprintf(stderr, "\r\033[Kbench: filling %d tokens of context ...", depth);
    s.reset();
    if (auto f = s.append(depth_ids); !f) return fail(f.error());
  }
  for (int r = 0; r < repeat; ++r) {
    if (tty) std::fprintf(stderr, "\r\033[Kbench: run %d/%d ...", r + 1, repeat);
    double run_bandwidth = 0;
    if (auto m = measure(depth, gen, prefill, decode, &run_bandwidth); !m) return fail(m.error());
    if (prompt > 0) {
      pp.push_back(prompt / prefill);
      ttft.push_back(prefill);  // the prompt's forward pass; sampling the first token adds microseconds
    }
    if (gen > 0) {
      tg.push_back(gen / decode);
      if (probe) run_bw.push_back(run_bandwidth);  // one per decode run: run_bw[r] belongs to tg[r]
    }
  }
  if (probe && run_bw.empty()) {  // no decode (-n 0): the bandwidth alone, as the figure of the machine
    if (tty) std::fprintf(stderr, "\r\033[Kbench: measuring memory bandwidth ...");
    bw = probe->measure(5);
  }
  probe.reset();
  if (tty) std::fprintf(stderr, "\r\033[K");
  ComputePeakResult peak;
  const std::optional<CpuIsa> isa = backend_cpu_isa(s.backend_name());
  if (!no_bandwidth && isa) {
    if (tty) std::fprintf(stderr, "bench: measuring the FMA peak ...\r");
    peak = measure_compute_peak(threads, *isa);
    if (tty) std::fprintf(stderr, "\033[K");
  }
  const Stat scand = stat(policy.candidates), sembed = stat(policy.embeddings);
  // Each decode run's weight reads over the bandwidth measured just before it.
  const auto per_token = static_cast<double>(info.bytes_read_per_token);
  std::vector<double> run_fraction;
  nlohmann::json decode_runs = nlohmann::json::array();
  for (size_t r = 0; r < run_bw.size(); ++r) {
    run_fraction.push_back(per_token * tg[r] / run_bw[r]);
    decode_runs.push_back(
        {{"tg_tokens_per_second", tg[r]}, {"memory_bandwidth_bytes_per_second", run_bw[r]}, {"bandwidth_fraction", run_fraction.back()}});
  }
  const double bandwidth = run_bw.empty() ? bw.bytes_per_second : stat(run_bw).mean;
  const double fraction = stat(run_fraction).mean;
  const Stat spp = stat(pp), stg = stat(tg), sttft = stat(ttft);
  const double achieved = per_token * stg.mean;
  const double flops_per_token = prompt > 0 ? prefill_flops_per_token(model->config(), depth, prompt) : 0;
  const double prefill_flops = flops_per_token * spp.mean;
  const double compute_fraction = peak.flops_per_second > 0 ? prefill_flops / peak.flops_per_second : 0;
  std::string dtypes;
  for (const auto& [k, v] : info.params_by_dtype) dtypes += (dtypes.empty() ? "" : "+") + k;
  if (json) {
    std::cout << dump({{"model", model_dir},
                       {"dtypes", dtypes},
                       {"backend", s.backend_name()},
                       {"threads", threads},
                       {"prompt_tokens", prompt},
                       {"depth", depth},
                       {"gen_tokens", gen},
                       {"repeat", repeat},
                       {"pp_tokens_per_second", measured(pp, spp.mean)},
                       {"pp_stdev", measured(pp, spp.stdev)},
                       {"prefill_runs", pp},  // tokens/s of each repetition (llama-bench's samples_ts): a busy machine's are bimodal
                       {"tg_tokens_per_second", measured(tg, stg.mean)},
                       {"tg_stdev", measured(tg, stg.stdev)},
                       {"ttft_seconds", measured(ttft, sttft.mean)},
                       {"peak_rss_bytes", rss},
                       {"weight_bytes_per_token", info.bytes_read_per_token},
                       {"decode_bytes_per_second", measured(tg, achieved)},
                       {"memory_bandwidth_bytes_per_second", bandwidth},
                       {"memory_bandwidth_buffer_bytes", bw.buffer_bytes},
                       {"bandwidth_fraction", measured(run_fraction, fraction)},
                       {"decode_runs", decode_runs},
                       {"prefill_flops_per_token", measured(pp, flops_per_token)},
                       {"prefill_flops_per_second", measured(pp, prefill_flops)},
                       {"compute_peak_flops_per_second", peak.flops_per_second},
                       {"compute_fraction", measured(pp, compute_fraction)},
                       {"candidates_per_call", candidates},
                       {"candidates_per_second", scand.mean},
                       {"embeddings_per_second", sembed.mean}})
              << "\n";
    return 0;
  }
  std::printf("model        %s (%s, %s)\n", model_dir.c_str(), dtypes.c_str(), s.backend_name().c_str());
  const std::string at = depth > 0 ? " @ d" + std::to_string(depth) : "";
  if (prompt > 0) std::printf("pp%-5d%-6s %9.2f ± %.2f tokens/s\n", prompt, at.c_str(), spp.mean, spp.stdev);
  if (gen > 0) std::printf("tg%-5d%-6s %9.2f ± %.2f tokens/s\n", gen, at.c_str(), stg.mean, stg.stdev);
  if (prompt > 0) std::printf("ttft         %9.1f ms (prompt of %d tokens)\n", sttft.mean * 1e3, prompt);
  if (candidates > 0) {
    std::printf("candidates   %9.2f ± %.2f candidates/s (%d per call, 16 tokens each, 64-token prompt)\n", scand.mean, scand.stdev,
                candidates);
    std::printf("embeddings   %9.2f ± %.2f texts/s (8 texts of ~64 tokens, mean pooling)\n", sembed.mean, sembed.stdev);
  }
  std::printf("peak RSS     %s\n", human_bytes(rss).c_str());
  std::printf("weights/tok  %s\n", human_bytes(static_cast<double>(info.bytes_read_per_token)).c_str());
  if (!run_fraction.empty())
    std::printf("bandwidth    decode reads %.1f GB/s of %.1f GB/s measured before each run (%d threads, %s buffer) = %.0f%%\n",
                achieved / 1e9, bandwidth / 1e9, bw.threads, human_bytes(bw.buffer_bytes).c_str(), 100 * fraction);
  else if (bw.bytes_per_second > 0)
    std::printf("bandwidth    %.1f GB/s streaming reads (%d threads, %s buffer)\n", bw.bytes_per_second / 1e9, bw.threads,
                human_bytes(bw.buffer_bytes).c_str());
  if (peak.flops_per_second > 0 && prompt > 0)
    std::printf("compute      prefill runs %.1f GFLOP/s of %.1f GFLOP/s measured (%d threads, %d-float FMA) = %.0f%%%s\n",
                prefill_flops / 1e9, peak.flops_per_second / 1e9, peak.threads, peak.vector_floats, 100 * compute_fraction,
                compute_fraction > 1 ? " (integer dot products beat the float FMA peak)" : "");
  return 0;
}

}  // namespace wick::cli
