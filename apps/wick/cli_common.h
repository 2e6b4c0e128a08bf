// Pieces shared by the CLI's commands: error reporting, model loading with a progress line,
// and the flags for sampling and for the engine.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wick/engine.h"
#include "wick/generate.h"
#include "wick/model.h"

namespace wick::cli {

using nlohmann::json;

// Prints "wick: error: ..." and returns the exit status (2 for bad input, 1 otherwise).
int fail(const Error& e);
// Loads with a progress line on a TTY; dtype: LoadOptions::dtype ("" keeps the stored types).
std::shared_ptr<Model> load_or_report(const std::string& dir, int* rc, const std::string& dtype = "");
// The tokenizer of a model directory or GGUF file, or of a tokenizer file when `file` is set.
std::shared_ptr<Tokenizer> tokenizer_from(const std::string& model, const std::string& file, int* rc);
std::string human_bytes(double b);
std::string dump(const json& j);  // one line, invalid UTF-8 replaced

// --device, --isa (shorthand for --device cpu:ISA) and -t/--threads (more than the machine's
// cores are capped to them, with a warning) into *device and *threads.
void add_device_flags(CLI::App* app, std::string* device, int* threads);

// --kv-block-size into *kv_block (EngineOptions::kv_block_size).
void add_kv_block_flag(CLI::App* app, int* kv_block);

struct EngineFlags {
  int threads = 0, ctx = 0, kv_tokens = 0, batch = 256;
  int kv_block = EngineOptions{}.kv_block_size;
  std::string device = "auto";
  std::string dtype;             // --dtype: convert the weights at load
  std::string kv_dtype = "f32";  // --kv-type
  void add(CLI::App* app);
  EngineOptions options() const;
};

struct SamplingFlags {
  int max_new = 128, top_k = 0, top_logprobs = 0;
  float temperature = 1.0f, top_p = 1.0f, min_p = 0.0f, repetition = 1.0f, presence = 0.0f, frequency = 0.0f;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false, no_bos = false, processed = false;
  void add(CLI::App* app);
  GenerateParams params() const;
};

// --template NAME | --template-string TEXT: wraps the prompt; the template's stop strings are
// added to params unless --no-template-stop.
struct TemplateFlags {
  std::string name, text;
  bool no_stop = false;
  void add(CLI::App* app);
  // Applies the template (if any) to `prompt` and its stops to `params`; returns an error for
  // an unknown name or a malformed template.
  Result<std::string> apply(const std::string& prompt, GenerateParams* params) const;
};

json logprobs_json(const GenerateResult& r);  // top / processed log-probs when present

}  // namespace wick::cli
