#include "quantize_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/dtype.h"
#include "wick/quantize.h"

namespace wick::cli {

CLI::App* QuantizeCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("quantize", "write a Hugging Face model as a GGUF file of (block-quantized) weights");
  c->add_option("-m,--model", model_dir, "Hugging Face model directory")->required();
  c->add_option("--type", type, quantize_type_names())->capture_default_str();
  c->add_option("-o,--out", out, "output GGUF file")->required();
  c->add_flag("--json", json, "print one JSON object");
  return c;
}

int QuantizeCommand::run() const {
  const bool tty = isatty(2) && !json;
  const auto t0 = std::chrono::steady_clock::now();
  QuantizeOptions o;
  o.type = type;
  if (tty) {
    std::fprintf(stderr, "loading and converting %s to %s ...\r", model_dir.c_str(), type.c_str());
    o.progress = [](int done, int total) {
      std::fprintf(stderr, "\033[Kwriting tensors %d/%d (%.0f%%)\r", done, total, 100.0 * done / total);
    };
  }
  auto r = quantize_to_gguf(model_dir, out, o);
  if (tty) std::fprintf(stderr, "\033[K");
  if (!r) return fail(r.error());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const QuantizeReport& q = r.value();
  if (json) {
    nlohmann::json by = nlohmann::json::object();
    for (const auto& [dtype, n] : q.params_by_dtype) by[dtype] = n;
    std::cout << dump({{"file", out},
                       {"type", type},
                       {"tensors", q.n_tensors},
                       {"params", q.n_params},
                       {"file_bytes", q.file_bytes},
                       {"params_by_dtype", by},
                       {"seconds", secs}})
              << "\n";
  } else {
    std::string mix;
    for (const auto& [dtype, n] : q.params_by_dtype) mix += (mix.empty() ? "" : ", ") + dtype + " " + std::to_string(n);
    std::printf("%s: %d tensors, %llu parameters (%s), %s, %.1f s\n", out.c_str(), q.n_tensors, static_cast<unsigned long long>(q.n_params),
                mix.c_str(), human_bytes(static_cast<double>(q.file_bytes)).c_str(), secs);
  }
  return 0;
}

}  // namespace wick::cli
