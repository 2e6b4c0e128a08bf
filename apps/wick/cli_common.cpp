#include "cli_common.h"

#include <filesystem>

#include <unistd.h>

#include <cstdio>

#include "backends/devices.h"
#include "core/dtype.h"
#include "wick/quantize.h"
#include "wick/prompt_template.h"
#include "core/limits.h"

namespace wick::cli {

int fail(const Error& e) {
  std::fprintf(stderr, "wick: error: %s\n", e.what());
  return e.code() == ErrorCode::kInvalidArgument ? 2 : 1;
}

std::shared_ptr<Model> load_or_report(const std::string& dir, int* rc, const std::string& dtype) {
  const bool tty = isatty(2);
  if (tty) std::fprintf(stderr, "loading %s%s%s ...\r", dir.c_str(), dtype.empty() ? "" : " as ", dtype.c_str());
  LoadOptions lo;
  lo.dtype = dtype;
  auto m = Model::load(dir, lo);
  if (tty) std::fprintf(stderr, "\033[K");
  if (!m) {
    *rc = fail(m.error());
    return nullptr;
  }
  return m.value();
}

std::shared_ptr<Tokenizer> tokenizer_from(const std::string& model, const std::string& file, int* rc) {
  // -m takes a model directory or a GGUF model file (its tokenizer.ggml.* metadata).
  const bool model_file = !model.empty() && std::filesystem::is_regular_file(model);
  auto t = !file.empty() ? Tokenizer::from_file(file) : model_file ? Tokenizer::from_file(model) : Tokenizer::from_dir(model);
  if (!t) {
    *rc = fail(t.error());
    return nullptr;
  }
  return t.value();
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", b, units[u]);
  return buf;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void add_device_flags(CLI::App* app, std::string* device, int* threads) {
  auto* dev = app->add_option("--device", *device,
                              "cpu, cpu:ISA, cuda[:N], auto (the best this machine has; see `wick devices`) or reference (the scalar "
                              "reference backend, slow: for checking)")
                  ->capture_default_str();
  app->add_option_function<std::string>(
         "--isa", [device](const std::string& isa) { *device = "cpu:" + isa; },
         "CPU kernels of one instruction set: baseline, avx2, avx512 or avx512vnni (default: the best this processor has, or $WICK_ISA)")
      ->excludes(dev);
  app->add_option_function<int>(
      "-t,--threads",
      [threads](int n) {
        *threads = wick::cap_cpu_threads(n);
        if (*threads != n)
          std::fprintf(stderr, "wick: warning: --threads %d is more than this machine's %d cores; using %d\n", n, *threads, *threads);
      },
      "threads (0 = all cores)");
}

void add_kv_block_flag(CLI::App* app, int* kv_block) {
  app->add_option("--kv-block-size", *kv_block,
                  "tokens per KV cache block: the unit of allocation, prefix sharing and copy-on-write; larger blocks read "
                  "a long context's keys in longer runs")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

void EngineFlags::add(CLI::App* app) {
  add_device_flags(app, &device, &threads);
  app->add_option("--ctx", ctx, "context length per sequence (0 = the model's, at most " + std::to_string(wick::kDefaultContextCap) + ")");
  app->add_option("--kv-tokens", kv_tokens, "KV cache size in tokens, all sequences together (0 = max(ctx, 4096))");
  app->add_option("--kv-type", kv_dtype, "KV cache storage: f32 or f16 (half the memory)");
  add_kv_block_flag(app, &kv_block);
  app->add_option("--batch-tokens", batch, "tokens per forward pass");
  app->add_option("--dtype", dtype, "convert the weights at load: " + quantize_type_names());
}

EngineOptions EngineFlags::options() const {
  EngineOptions o;
  o.device = device;
  o.n_threads = threads;
  o.context_length = ctx;
  o.kv_cache_tokens = kv_tokens;
  o.kv_dtype = kv_dtype;
  o.kv_block_size = kv_block;
  o.max_batch_tokens = batch;
  return o;
}

void SamplingFlags::add(CLI::App* app) {
  app->add_option("-n,--max-new-tokens", max_new, "maximum number of tokens to generate");
  app->add_option("--temperature", temperature, "sampling temperature (0 = greedy)");
  app->add_option("--top-k", top_k, "keep the k most likely tokens (0 = off)");
  app->add_option("--top-p", top_p, "nucleus sampling mass in (0, 1]");
  app->add_option("--min-p", min_p, "drop tokens below min_p x the best token's probability (0 = off)");
  app->add_option("--repetition-penalty", repetition, "CTRL repetition penalty over prompt and output (1 = off)");
  app->add_option("--presence-penalty", presence, "subtract from logits of generated tokens (0 = off)");
  app->add_option("--frequency-penalty", frequency, "subtract times the count of generated tokens (0 = off)");
  app->add_option("--seed", seed, "random seed");
  app->add_option("--stop", stop, "stop string (repeatable); the text is cut before it");
  app->add_option("--top-logprobs", top_logprobs, "report the N most likely tokens at each step");
  app->add_flag("--processed-logprobs", processed, "also report log-probs after the sampler chain");
  app->add_flag("--no-bos", no_bos, "do not add BOS / template special tokens");
  app->add_flag("--ignore-eos", ignore_eos, "keep generating past EOS");
}

GenerateParams SamplingFlags::params() const {
  GenerateParams p;
  p.sampling.temperature = temperature;
  p.sampling.top_k = top_k;
  p.sampling.top_p = top_p;
  p.sampling.seed = seed;
  p.sampling.min_p = min_p;
  p.sampling.repetition_penalty = repetition;
  p.sampling.presence_penalty = presence;
  p.sampling.frequency_penalty = frequency;
  p.max_new_tokens = max_new;
  p.add_special_tokens = !no_bos;
  p.ignore_eos = ignore_eos;
  p.stop = stop;
  p.top_logprobs = top_logprobs;
  p.processed_logprobs = processed;
  return p;
}

void TemplateFlags::add(CLI::App* app) {
  std::string names;
  for (const auto& n : PromptTemplate::preset_names()) names += (names.empty() ? "" : ", ") + n;
  auto* t = app->add_option("--template", name, "wrap the prompt in a preset template: " + names);
  app->add_option("--template-string", text, "wrap the prompt in this template (contains {state})")->excludes(t);
  app->add_flag("--no-template-stop", no_stop, "do not add the template's stop strings");
}

Result<std::string> TemplateFlags::apply(const std::string& prompt, GenerateParams* params) const {
  if (name.empty() && text.empty()) return prompt;
  auto t = name.empty() ? PromptTemplate::from_string(text) : PromptTemplate::preset(name);
  if (!t) return t.error();
  if (params && !no_stop) params->stop.insert(params->stop.end(), t->stop.begin(), t->stop.end());
  return t->apply(prompt);
}

json logprobs_json(const GenerateResult& r) {
  json j = json::object();
  if (!r.processed_logprobs.empty()) j["processed_logprobs"] = r.processed_logprobs;
  if (!r.top_logprobs.empty()) {
    json steps = json::array();
    for (const auto& step : r.top_logprobs) {
      json s = json::array();
      for (const auto& t : step) s.push_back({{"token", t.token}, {"logprob", t.logprob}});
      steps.push_back(s);
    }
    j["top_logprobs"] = steps;
  }
  return j;
}

}  // namespace wick::cli
