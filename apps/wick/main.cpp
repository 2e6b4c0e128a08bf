// wick: the command-line front end. Errors go to stderr with a non-zero exit status;
// --json prints one machine-readable object on stdout.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "backends/devices.h"
#include "cli_common.h"
#include "bench_command.h"
#include "quantize_command.h"
#include "policy_commands.h"
#include "chat_template_command.h"
#include "serve_command.h"
#include "perplexity_command.h"
#include "prove_command.h"
#include "core/limits.h"

namespace {

using namespace wick::cli;

int run_devices(bool as_json) {
  const auto devices = wick::list_devices();
  if (as_json) {
    json arr = json::array();
    for (const auto& d : devices)
      arr.push_back(
          {{"name", d.name}, {"description", d.description}, {"isa", d.isa}, {"cores", d.cores}, {"memory_bytes", d.memory_bytes}});
    std::cout << json{{"devices", arr}, {"auto", wick::resolve_device("auto")}}.dump() << "\n";
    return 0;
  }
  for (const auto& d : devices)
    std::printf("%-8s %s, %d cores, %s, kernels: %s%s\n", d.name.c_str(), d.description.c_str(), d.cores,
                human_bytes(static_cast<double>(d.memory_bytes)).c_str(), d.isa.c_str(),
                d.name == wick::resolve_device("auto") ? "  (auto)" : "");
  return 0;
}

int run_inspect(const std::string& dir, bool as_json) {
  int rc = 0;
  auto model = load_or_report(dir, &rc);
  if (!model) return rc;
  const auto& c = model->config();
  const auto info = model->info();
  // Memory: the mapped weights plus an F32 KV cache at the default context.
  const int ctx = wick::default_context_length(c.max_context());
  const uint64_t kv_bytes = 2ull * c.num_layers * ctx * c.kv_dim() * 4;
  json dtypes = json::object();
  for (const auto& [k, v] : info.params_by_dtype) dtypes[k] = v;
  json sw = json::array();
  for (int w : c.sliding_window) sw.push_back(w);
  json j = {{"model_type", c.model_type},
            {"architecture", c.architecture},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_layers", c.num_layers},
            {"num_heads", c.num_heads},
            {"num_kv_heads", c.num_kv_heads},
            {"head_dim", c.head_dim},
            {"max_position_embeddings", c.max_position_embeddings},
            {"max_context", c.max_context()},
            {"rope_theta", c.rope_theta},
            {"rope_scaling", rope_type_name(c.rope.type)},
            {"rms_norm_eps", c.rms_norm_eps},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"sliding_window", sw},
            {"qk_norm", c.qk_norm},
            {"post_norms", c.post_norms},
            {"embedding_scale", c.embedding_scale},
            {"norm_weight_offset", c.norm_weight_offset},
            {"query_scale", c.query_scale},
            {"attn_softcap", c.attn_softcap},
            {"final_softcap", c.final_softcap},
            {"layer_norm", c.layer_norm},
            {"rotary_dim", c.rope_dims()},
            {"hidden_act", wick::activation_name(c.hidden_act)},
            {"torch_dtype", c.torch_dtype},
            {"parameters", info.n_params},
            {"parameters_by_dtype", dtypes},
            {"weight_bytes", info.weight_bytes},
            {"kv_cache_bytes", kv_bytes},
            {"kv_cache_context", ctx},
            {"memory_bytes", info.weight_bytes + kv_bytes},
            {"bos_token_id", c.bos_token_id},
            {"eos_token_ids", c.eos_token_ids},
            {"weights", info.weights_description}};
  if (as_json) {
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("model          %s (%s)\n", c.architecture.c_str(), c.model_type.c_str());
  std::printf("weights        %s\n", info.weights_description.c_str());
  std::printf("parameters     %.3f M", info.n_params / 1e6);
  for (const auto& [k, v] : info.params_by_dtype) std::printf("  [%s: %llu]", k.c_str(), static_cast<unsigned long long>(v));
  std::printf("\nlayers         %d, hidden %d, intermediate %d\n", c.num_layers, c.hidden_size, c.intermediate_size);
  std::printf(
      "attention      %d heads, %d kv heads, head_dim %d%s\n", c.num_heads, c.num_kv_heads, c.head_dim,
      c.sliding_window.empty() || c.sliding_window[0] == 0 ? "" : (", sliding window " + std::to_string(c.sliding_window[0])).c_str());
  auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  std::string shape = std::string(wick::activation_name(c.hidden_act)) + " MLP";
  if (c.qk_norm) shape += ", q/k norms per head";
  if (c.post_norms) shape += ", post-attention/post-MLP norms";
  if (c.norm_weight_offset != 0) shape += ", norms scale by (1 + w)";
  if (c.embedding_scale > 0) shape += ", embeddings x" + num(c.embedding_scale);
  if (c.query_scale > 0) shape += ", query scale " + num(c.query_scale);
  if (c.attn_softcap > 0) shape += ", attention soft-cap " + num(c.attn_softcap);
  if (c.final_softcap > 0) shape += ", logit soft-cap " + num(c.final_softcap);
  if (c.layer_norm) shape += ", LayerNorm";
  if (c.rotary_dim > 0) shape += ", rope on " + std::to_string(c.rotary_dim) + " of " + std::to_string(c.head_dim) + " head dims";
  std::printf("layer shape    %s\n", shape.c_str());
  std::printf("vocab          %d, tied embeddings: %s\n", c.vocab_size, c.tie_word_embeddings ? "yes" : "no");
  std::printf("context        %d (rope theta %g, scaling %s)\n", c.max_context(), c.rope_theta, rope_type_name(c.rope.type));
  std::printf("memory         weights %s + KV cache %s (f32, %d tokens) = %s\n", human_bytes(info.weight_bytes).c_str(),
              human_bytes(kv_bytes).c_str(), ctx, human_bytes(info.weight_bytes + kv_bytes).c_str());
  return 0;
}

// Batch tokenization: one JSON string per stdin line -> one {"ids":[...]} per stdout line (or
// {"error":...} for that line), so a caller tokenizes thousands of texts with one process.
int tokenize_jsonl(const wick::Tokenizer& t, const wick::EncodeOptions& opts) {
  std::string line;
  int failures = 0;
  while (std::getline(std::cin, line)) {
    json out;
    try {
      const json in = json::parse(line);
      const std::string text = in.is_object() ? in.at("text").get<std::string>() : in.get<std::string>();
      auto ids = t.encode(text, opts);
      if (ids)
        out = {{"ids", ids.value()}};
      else
        out = {{"error", ids.error().what()}};
    } catch (const json::exception& e) {
      out = {{"error", std::string("line is not a JSON string or {\"text\":...}: ") + e.what()}};
    }
    failures += out.contains("error") ? 1 : 0;
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  }
  std::cout.flush();
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wick: inference for Llama-family language models"};
  app.require_subcommand(1);

  GenerateCommand gen_cmd;
  CandidatesCommand cand_cmd;
  ScoreCommand score_cmd;
  EmbedCommand embed_cmd;
  auto* gen = gen_cmd.add(app);
  auto* cand = cand_cmd.add(app);
  auto* score = score_cmd.add(app);
  auto* embed = embed_cmd.add(app);
  BenchCommand bench_cmd;
  auto* bench = bench_cmd.add(app);
  QuantizeCommand quant_cmd;
  auto* quant = quant_cmd.add(app);
  ChatTemplateCommand tmpl_cmd;
  auto* tmpl = tmpl_cmd.add(app);
  ServeCommand serve_cmd;
  auto* serve = serve_cmd.add(app);
  ProveCommand prove_cmd;
  auto* prove = prove_cmd.add(app);
  EnergyCommand energy_cmd;
  auto* energy = energy_cmd.add(app);
  PerplexityCommand ppl_cmd;
  auto* ppl = ppl_cmd.add(app);

  bool devices_json = false;
  auto* devs = app.add_subcommand("devices", "list the devices wick can run on (--device takes their names)");
  devs->add_flag("--json", devices_json, "print one JSON object");

  std::string inspect_dir;
  bool inspect_json = false;
  auto* insp = app.add_subcommand("inspect", "show a model's architecture, size and memory needs");
  insp->add_option("-m,--model", inspect_dir, "Hugging Face model directory")->required();
  insp->add_flag("--json", inspect_json, "print one JSON object");

  std::string tok_dir, tok_file, tok_text;
  bool tok_special = false, tok_json = false, tok_skip = false, tok_plain = false, tok_jsonl = false;
  std::vector<int> detok_ids;
  auto* tok = app.add_subcommand("tokenize", "text -> token ids");
  auto* tm = tok->add_option("-m,--model", tok_dir, "model directory");
  tok->add_option("--tokenizer", tok_file, "a tokenizer.json or a GGUF file")->excludes(tm);
  tok->add_flag("--add-special", tok_special, "add BOS/EOS as the tokenizer config says");
  tok->add_flag("--plain-special", tok_plain, "treat special-token text in the input as plain text (untrusted input)");
  tok->add_flag("--json", tok_json, "print {\"ids\":[...],\"tokens\":[...]}");
  tok->add_flag("--jsonl", tok_jsonl, "batch: read one JSON string per line from stdin, print one {\"ids\":[...]} per line");
  tok->add_option("text", tok_text, "text to tokenize (or --jsonl)");
  auto* detok = app.add_subcommand("detokenize", "token ids -> text");
  auto* dm = detok->add_option("-m,--model", tok_dir, "model directory");
  detok->add_option("--tokenizer", tok_file, "a tokenizer.json or a GGUF file")->excludes(dm);
  detok->add_flag("--skip-special", tok_skip, "drop special tokens");
  detok->add_flag("--json", tok_json, "print {\"text\":\"...\"}");
  detok->add_option("ids", detok_ids, "token ids")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*gen) return gen_cmd.run();
  if (*cand) return cand_cmd.run();
  if (*score) return score_cmd.run();
  if (*embed) return embed_cmd.run();
  if (*bench) return bench_cmd.run();
  if (*quant) return quant_cmd.run();
  if (*tmpl) return tmpl_cmd.run();
  if (*serve) return serve_cmd.run();
  if (*prove) return prove_cmd.run();
  if (*energy) return energy_cmd.run();
  if (*ppl) return ppl_cmd.run();
  if (*insp) return run_inspect(inspect_dir, inspect_json);
  if (*devs) return run_devices(devices_json);
  if (*tok || *detok) {
    if (tok_dir.empty() && tok_file.empty()) {
      std::fprintf(stderr, "wick: error: give -m DIR or --tokenizer FILE\n");
      return 2;
    }
    int rc = 0;
    auto t = tokenizer_from(tok_dir, tok_file, &rc);
    if (!t) return rc;
    if (*tok && tok_jsonl) return tokenize_jsonl(*t, {tok_special, !tok_plain});
    if (*tok && tok->count("text") == 0) {
      std::fprintf(stderr, "wick: error: give the text to tokenize (or --jsonl)\n");
      return 2;
    }
    if (*tok) {
      auto ids = t->encode(tok_text, {tok_special, !tok_plain});
      if (!ids) return fail(ids.error());
      if (tok_json) {
        json toks = json::array();
        for (int id : ids.value()) toks.push_back(t->token_text(id));
        std::cout << json{{"ids", ids.value()}, {"tokens", toks}}.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      } else {
        for (size_t i = 0; i < ids->size(); ++i) std::printf("%s%d", i ? " " : "", ids.value()[i]);
        std::printf("\n");
      }
    } else {
      for (int id : detok_ids)
        if (id < 0 || id >= t->vocab_size()) {
          std::fprintf(stderr, "wick: error: token id %d is outside the vocabulary (%d)\n", id, t->vocab_size());
          return 2;
        }
      const std::string text = t->decode(detok_ids, tok_skip);
      if (tok_json)
        std::cout << json{{"text", text}}.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      else
        std::cout << text << "\n";
    }
  }
  return 0;
}
