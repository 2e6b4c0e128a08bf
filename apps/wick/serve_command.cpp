#include "serve_command.h"

#include <algorithm>

#include "server/http_server.h"
#include "server/model_pool.h"

namespace wick::cli {

CLI::App* ServeCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("serve", "serve models over HTTP (OpenAI-compatible API, /execute, /metrics)");
  c->add_option("-m,--model", models,
                "a model to serve: PATH or NAME=PATH (HF directory or GGUF file); repeat for several, the first is the default")
      ->required();
  c->add_option("--host", host, "address to listen on (default 127.0.0.1: this machine only)");
  c->add_option("--port", port, "port (0: any free port, printed at start)");
  c->add_option("--api-key", api_key, "require 'Authorization: Bearer KEY' (except /health and /metrics)");
  c->add_option("--max-queue", max_queue, "requests waiting per model beyond which the server answers 429");
  c->add_option("--max-body-bytes", max_body_bytes, "larger request bodies are refused with 413");
  c->add_option("--http-threads", http_threads, "concurrent connections served");
  c->add_option("--max-loaded", max_loaded, "keep at most N models loaded (LRU unload of idle ones); 0: no limit");
  c->add_option("--max-seqs", max_seqs, "sequences decoded together per model (and the largest n)");
  c->add_option("--chat-template", chat_template, "a Jinja chat template file for every model (overrides theirs)");
  c->add_option("--shutdown-grace", grace, "seconds in-flight requests get to finish after SIGTERM");
  c->add_flag("--no-access-log", quiet, "do not print a JSON line per request on stderr");
  engine.add(c);
  return c;
}

int ServeCommand::run() const {
  server::ServeOptions o;
  for (const std::string& m : models) {
    const size_t eq = m.find('=');
    if (eq != std::string::npos && eq > 0)
      o.models.emplace_back(m.substr(0, eq), m.substr(eq + 1));
    else
      o.models.emplace_back(server::model_name_from_path(m), m);
  }
  o.host = host;
  o.port = port;
  o.api_key = api_key;
  o.max_queue = max_queue;
  o.max_body_bytes = max_body_bytes;
  o.http_threads = http_threads;
  o.shutdown_grace_seconds = grace;
  o.access_log = !quiet;
  o.pool.max_loaded = max_loaded;
  o.pool.dtype = engine.dtype;
  o.pool.chat_template = chat_template;
  o.pool.scheduler.engine = engine.options();
  o.pool.scheduler.engine.prefix_cache = true;
  o.pool.scheduler.engine.max_sequences = max_seqs;
  o.pool.scheduler.engine.max_logits_rows = max_seqs;
  // Every running sequence decodes every step: the step's token budget must hold them all.
  o.pool.scheduler.engine.max_batch_tokens = std::max(o.pool.scheduler.engine.max_batch_tokens, max_seqs);
  return server::serve(o);
}

}  // namespace wick::cli
