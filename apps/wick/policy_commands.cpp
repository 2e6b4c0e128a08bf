#include "policy_commands.h"

#include <cstdio>
#include <iostream>

#include "wick/embedder.h"
#include "wick/generator.h"

namespace wick::cli {
namespace {

std::unique_ptr<Generator> make_generator(const std::string& dir, const EngineFlags& flags, int* rc) {
  auto model = load_or_report(dir, rc, flags.dtype);
  if (!model) return nullptr;
  auto g = Generator::create(model, flags.options());
  if (!g) {
    *rc = fail(g.error());
    return nullptr;
  }
  return std::move(g.value());
}

// Prints text on one line: newlines and tabs as escapes (the --json output has the exact text).
std::string one_line(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\n')
      o += "\\n";
    else if (c == '\t')
      o += "\\t";
    else
      o += c;
  }
  return o;
}

}  // namespace

CLI::App* GenerateCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("generate", "generate text from a prompt (streams to stdout)");
  c->add_option("-m,--model", model_dir, "Hugging Face model directory")->required();
  c->add_option("-p,--prompt", prompt, "prompt text (the state, with --template)")->required();
  c->add_flag("--prompt-logprobs", prompt_logprobs, "report log p of every prompt token (with --json)");
  c->add_flag("--json", json, "print one JSON object");
  sampling.add(c);
  engine.add(c);
  tmpl.add(c);
  return c;
}

int GenerateCommand::run() const {
  int rc = 0;
  auto gen = make_generator(model_dir, engine, &rc);
  if (!gen) return rc;
  GenerateParams p = sampling.params();
  p.prompt_logprobs = prompt_logprobs;
  auto text = tmpl.apply(prompt, &p);
  if (!text) return fail(text.error());
  if (!json) {
    std::fwrite(text->data(), 1, text->size(), stdout);
    p.on_text = [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  }
  auto r = gen->generate(text.value(), p);
  if (!r) return fail(r.error());
  const auto& g = r.value();
  const double tps = g.decode_seconds > 0 && g.tokens.size() > 1 ? (g.tokens.size() - 1) / g.decode_seconds : 0;
  if (json) {
    nlohmann::json out = {
        {"prompt_tokens", g.prompt_tokens},
        {"tokens", g.tokens},
        {"text", g.text},
        {"logprobs", g.logprobs},
        {"logprob", g.logprob},
        {"finish_reason", g.finish_reason},
        {"stop_reason", g.stop_reason},
        {"timings", {{"prefill_seconds", g.prefill_seconds}, {"decode_seconds", g.decode_seconds}, {"decode_tokens_per_second", tps}}}};
    if (prompt_logprobs) out["prompt_logprobs"] = g.prompt_logprobs;
    out.update(logprobs_json(g));
    std::cout << dump(out) << "\n";
  } else {
    std::printf("\n");
    std::fprintf(stderr, "[%zu prompt tokens, %zu generated, finish: %s; prefill %.1f ms, decode %.1f tokens/s on %s]\n",
                 g.prompt_tokens.size(), g.tokens.size(), g.finish_reason.c_str(), g.prefill_seconds * 1e3, tps,
                 gen->engine().backend_name().c_str());
  }
  return 0;
}

CLI::App* CandidatesCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("candidates", "N distinct samples of one prompt, ranked by log-probability");
  c->add_option("-m,--model", model_dir, "Hugging Face model directory")->required();
  c->add_option("-p,--prompt", prompt, "prompt text (the proof state, with --template)")->required();
  c->add_option("-k,--num-candidates", k, "number of sequences to sample");
  c->add_flag("--json", json, "print {\"candidates\":[...]} best first");
  sampling.add(c);
  engine.add(c);
  tmpl.add(c);
  return c;
}

int CandidatesCommand::run() const {
  int rc = 0;
  auto gen = make_generator(model_dir, engine, &rc);
  if (!gen) return rc;
  GenerateParams p = sampling.params();
  auto text = tmpl.apply(prompt, &p);
  if (!text) return fail(text.error());
  auto r = gen->generate_candidates(text.value(), k, p);
  if (!r) return fail(r.error());
  const CandidatesResult& c = r.value();
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (size_t i = 0; i < c.candidates.size(); ++i) {
      const GenerateResult& g = c.candidates[i];
      nlohmann::json e = {{"text", g.text},
                          {"tokens", g.tokens},
                          {"logprob", g.logprob},
                          {"logprobs", g.logprobs},
                          {"finish_reason", g.finish_reason},
                          {"stop_reason", g.stop_reason},
                          {"index", c.indices[i]}};
      e.update(logprobs_json(g));
      list.push_back(e);
    }
    const double secs = c.prefill_seconds + c.decode_seconds;
    std::cout << dump({{"candidates", list},
                       {"prompt_tokens", c.prompt_tokens.size()},
                       {"requested", c.requested},
                       {"duplicates_removed", c.duplicates_removed},
                       {"generated_tokens", c.generated_tokens},
                       {"timings",
                        {{"prefill_seconds", c.prefill_seconds},
                         {"decode_seconds", c.decode_seconds},
                         {"generated_tokens_per_second", secs > 0 ? c.generated_tokens / secs : 0}}}})
              << "\n";
    return 0;
  }
  for (const GenerateResult& g : c.candidates)
    std::printf("%10.4f  %-6s %s\n", g.logprob, g.finish_reason.c_str(), one_line(g.text).c_str());
  std::fprintf(stderr, "[%zu distinct of %d, %d tokens generated; prefill %.1f ms, decode %.2f s on %s]\n", c.candidates.size(),
               c.requested, c.generated_tokens, c.prefill_seconds * 1e3, c.decode_seconds, gen->engine().backend_name().c_str());
  return 0;
}

CLI::App* ScoreCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("score", "log-probability of a continuation after a prompt (teacher forcing)");
  c->add_option("-m,--model", model_dir, "Hugging Face model directory")->required();
  c->add_option("-p,--prompt", prompt, "prompt text (the state, with --template)")->required();
  c->add_option("-c,--continuation", continuation, "the text to score")->required();
  c->add_flag("--no-bos", no_bos, "do not add BOS / template special tokens");
  c->add_flag("--json", json, "print one JSON object");
  engine.add(c);
  tmpl.add(c);
  return c;
}

int ScoreCommand::run() const {
  int rc = 0;
  auto gen = make_generator(model_dir, engine, &rc);
  if (!gen) return rc;
  auto text = tmpl.apply(prompt, nullptr);
  if (!text) return fail(text.error());
  auto r = gen->score(text.value(), continuation, !no_bos);
  if (!r) return fail(r.error());
  const ScoreResult& s = r.value();
  if (json) {
    std::cout << dump({{"logprob", s.logprob},
                       {"tokens", s.tokens},
                       {"logprobs", s.logprobs},
                       {"prompt_tokens", s.prompt_tokens.size()},
                       {"greedy", s.greedy}})
              << "\n";
  } else {
    std::printf("%.6f\n", s.logprob);
    std::fprintf(stderr, "[%zu continuation tokens, mean %.4f per token, greedy: %s]\n", s.tokens.size(),
                 s.logprob / static_cast<double>(s.tokens.size()), s.greedy ? "yes" : "no");
  }
  return 0;
}

CLI::App* EmbedCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("embed", "pooled hidden states of texts (encode-only embeddings)");
  c->add_option("-m,--model", model_dir, "Hugging Face model directory")->required();
  c->add_option("--pooling", pooling, "mean | last")->check(CLI::IsMember({"mean", "last"}));
  c->add_flag("--normalize", normalize, "L2-normalize each vector");
  c->add_flag("--no-bos", no_bos, "do not add BOS / template special tokens");
  c->add_flag("--json", json, "print {\"dim\":D,\"embeddings\":[[...],...]}");
  c->add_option("texts", texts, "texts to embed")->required();
  engine.add(c);
  return c;
}

int EmbedCommand::run() const {
  int rc = 0;
  auto model = load_or_report(model_dir, &rc, engine.dtype);
  if (!model) return rc;
  EngineOptions eo = engine.options();
  eo.decodes = false;  // one command, whole texts: no packing for decode (load time)
  auto emb = Embedder::create(model, eo);
  if (!emb) return fail(emb.error());
  EncodeParams p;
  p.pooling = parse_pooling(pooling).value();
  p.normalize = normalize;
  p.add_special_tokens = !no_bos;
  auto r = emb.value()->encode(texts, p);
  if (!r) return fail(r.error());
  const Embeddings& e = r.value();
  if (json) {
    std::cout << dump({{"dim", e.dim},
                       {"embeddings", e.vectors},
                       {"token_counts", e.token_counts},
                       {"pooling", pooling},
                       {"normalized", normalize},
                       {"seconds", e.seconds}})
              << "\n";
    return 0;
  }
  for (const auto& v : e.vectors) {
    for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.7g", i ? " " : "", v[i]);
    std::printf("\n");
  }
  std::fprintf(stderr, "[%zu texts, dim %d, %.1f ms]\n", e.vectors.size(), e.dim, e.seconds * 1e3);
  return 0;
}

}  // namespace wick::cli
