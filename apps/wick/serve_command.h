// wick serve: an OpenAI-compatible HTTP server for one or more models.
#pragma once

#include "cli_common.h"

namespace wick::cli {

struct ServeCommand {
  std::vector<std::string> models;  // -m / --model: PATH or NAME=PATH
  std::string host = "127.0.0.1", api_key, chat_template;
  int port = 8080, max_queue = 256, http_threads = 128, max_loaded = 0, max_seqs = 64;
  size_t max_body_bytes = 16 << 20;
  double grace = 30;
  bool quiet = false;
  EngineFlags engine;
  CLI::App* add(CLI::App& app);
  int run() const;
};

}  // namespace wick::cli
