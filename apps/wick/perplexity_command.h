// `wick perplexity -m MODEL -f TEXT`: perplexity over a text in chunks, and how far a model's
// next-token distributions are from a base model's (KL divergence, top-1 agreement): how much a
// quantization costs. Chunking follows llama.cpp's llama-perplexity (chunks of --ctx tokens,
// the first token of each replaced by BOS, only the second half of each chunk scored), so the
// figures sit beside its --kl-divergence output on the same file.
#pragma once

#include "cli_common.h"

namespace wick::cli {

struct PerplexityCommand {
  std::string model_dir, text_file, save_logprobs, kl_base;
  int ctx = 128, chunks = 0;
  bool json = false;
  EngineFlags engine;
  CLI::App* add(CLI::App& app);
  int run() const;
};

}  // namespace wick::cli
