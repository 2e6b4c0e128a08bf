// `wick bench`: prompt processing and decode speed, time to first token, peak memory, and
// decode's achieved fraction of the machine's measured memory bandwidth.
#pragma once

#include "cli_common.h"

namespace wick::cli {

struct BenchCommand {
  std::string model_dir, dtype, kv_dtype = "f32";
  int prompt = 512, gen = 128, threads = 0, repeat = 3, candidates = 8, depth = 0;
  int kv_block = EngineOptions{}.kv_block_size;
  std::string device = "auto";
  bool json = false, no_bandwidth = false;
  CLI::App* add(CLI::App& app);
  int run() const;
};

}  // namespace wick::cli
