// wick-make-head: writes an energy head with random weights (head.json + head.safetensors), for
// tests and benchmarks of proof search.
//
//   wick-make-head -o DIR --input-dim 4096 [--hidden 1024,256] [--activation silu] [--layer-norm]
//                  [--pooling mean] [--embedding-dtype bfloat16] [--seed S]
#include <CLI/CLI.hpp>
#include <cstdio>

#include "wick/energy_head.h"

int main(int argc, char** argv) {
  wick::EnergyHeadConfig c;
  std::string out, pooling = "mean";
  std::vector<int> hidden = {256, 64};
  uint64_t seed = 0;
  CLI::App app{"wick-make-head: a random-weight energy head"};
  app.add_option("-o,--out", out, "output directory")->required();
  app.add_option("--input-dim", c.input_dim, "embedding width (the model's hidden size)")->required();
  app.add_option("--hidden", hidden, "hidden layer widths")->delimiter(',');
  app.add_option("--activation", c.activation, "silu, relu or gelu");
  app.add_flag("--layer-norm", c.layer_norm, "LayerNorm after each hidden Linear");
  app.add_option("--pooling", pooling, "mean or last");
  app.add_flag("--normalize-input", c.normalize_input, "L2-normalize the embedding first");
  app.add_option("--embedding-dtype", c.embedding_dtype, "dtype of the model the head was trained on");
  app.add_option("--template", c.template_text, "how a state becomes the embedded text (one {state})");
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);
  c.hidden = hidden;
  auto p = wick::parse_pooling(pooling);
  if (!p) {
    std::fprintf(stderr, "wick-make-head: %s\n", p.error().what());
    return 2;
  }
  c.pooling = p.value();
  auto r = wick::write_random_energy_head(out, c, seed);
  if (!r) {
    std::fprintf(stderr, "wick-make-head: %s\n", r.error().what());
    return 1;
  }
  return 0;
}
