#include "perplexity_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace wick::cli {
namespace {

// The base file: "WICKLOGP", then u32 version, vocab, ctx, scored rows, token count, the token
// ids (so a comparison refuses a different text or tokenization), then each scored row's
// log-probabilities [rows][vocab] as float32.
constexpr char kMagic[8] = {'W', 'I', 'C', 'K', 'L', 'O', 'G', 'P'};
constexpr uint32_t kVersion = 1;

struct BaseHeader {
  uint32_t version = kVersion, vocab = 0, ctx = 0, rows = 0, n_tokens = 0;
};

// log-softmax of one row of logits, in double.
void log_softmax(const float* logits, int vocab, std::vector<double>* out) {
  out->resize(static_cast<size_t>(vocab));
  double mx = -INFINITY;
  for (int i = 0; i < vocab; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  for (int i = 0; i < vocab; ++i) (*out)[static_cast<size_t>(i)] = static_cast<double>(logits[i]) - lse;
}

}  // namespace

CLI::App* PerplexityCommand::add(CLI::App& app) {
  auto* c =
      app.add_subcommand("perplexity", "perplexity over a text; KL divergence and top-1 agreement against a base model's saved log-probs");
  c->add_option("-m,--model", model_dir, "model directory or GGUF file")->required();
  c->add_option("-f,--file", text_file, "the text")->required()->check(CLI::ExistingFile);
  c->add_option("--chunk", ctx, "tokens per chunk (llama-perplexity's -c); the second half of each is scored")
      ->check(CLI::Range(4, 1 << 20));
  c->add_option("--chunks", chunks, "score at most this many chunks (0: every whole chunk of the text)");
  c->add_option("--save-logprobs", save_logprobs, "write the scored rows' log-probabilities here (the base for --kl-base)");
  c->add_option("--kl-base", kl_base, "compare with log-probabilities saved by --save-logprobs (the same text and chunking)");
  c->add_flag("--json", json, "print one JSON object");
  engine.add(c);
  return c;
}

int PerplexityCommand::run() const {
  int rc = 0;
  auto model = load_or_report(model_dir, &rc, engine.dtype);
  if (!model) return rc;
  std::ifstream in(text_file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const Tokenizer& tok = model->tokenizer();
  auto ids = tok.encode(ss.str(), {false, true});
  if (!ids) return fail(ids.error());
  // As llama-perplexity: the text's tokens after one BOS (when the model adds one).
  std::vector<int> tokens = std::move(ids.value());
  if (tok.bos_id() >= 0 && tok.adds_bos()) tokens.insert(tokens.begin(), tok.bos_id());
  int n_chunks = static_cast<int>(tokens.size()) / ctx;
  if (chunks > 0) n_chunks = std::min(n_chunks, chunks);
  if (n_chunks == 0)
    return fail(Error(ErrorCode::kInvalidArgument,
                      text_file + " has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " + std::to_string(ctx)));
  SessionOptions so;
  so.device = engine.device;
  so.n_threads = engine.threads;
  so.context_length = ctx;
  so.batch_tokens = ctx;
  so.all_logits = true;
  so.kv_dtype = engine.kv_dtype;
  so.kv_block_size = engine.kv_block;
  auto session = Session::create(model, so);
  if (!session) return fail(session.error());
  const int vocab = model->config().vocab_size;
  const int first = ctx / 2, per_chunk = ctx - 1 - first;
  const auto used = std::vector<int>(tokens.begin(), tokens.begin() + static_cast<int64_t>(n_chunks) * ctx);

  BaseHeader head{kVersion, static_cast<uint32_t>(vocab), static_cast<uint32_t>(ctx), static_cast<uint32_t>(n_chunks * per_chunk),
                  static_cast<uint32_t>(used.size())};
  std::ofstream save;
  if (!save_logprobs.empty()) {
    save.open(save_logprobs, std::ios::binary);
    if (!save) return fail(Error(ErrorCode::kIo, "cannot write " + save_logprobs));
    save.write(kMagic, 8);
    save.write(reinterpret_cast<const char*>(&head), sizeof head);
    save.write(reinterpret_cast<const char*>(used.data()), static_cast<std::streamsize>(used.size() * sizeof(int)));
  }
  std::ifstream base;
  if (!kl_base.empty()) {
    base.open(kl_base, std::ios::binary);
    char magic[8] = {};
    BaseHeader bh;
    base.read(magic, 8);
    base.read(reinterpret_cast<char*>(&bh), sizeof bh);
    if (!base || std::string(magic, 8) != std::string(kMagic, 8) || bh.version != kVersion)
      return fail(Error(ErrorCode::kCorruptFile, kl_base + " is not a log-probability file written by wick perplexity --save-logprobs"));
    if (bh.vocab != head.vocab || bh.ctx != head.ctx || bh.rows < head.rows)
      return fail(Error(ErrorCode::kInvalidArgument, kl_base + " was saved with vocab " + std::to_string(bh.vocab) + ", chunk " +
                                                         std::to_string(bh.ctx) + ", " + std::to_string(bh.rows) + " rows; this run has " +
                                                         std::to_string(head.vocab) + ", " + std::to_string(head.ctx) + ", " +
                                                         std::to_string(head.rows)));
    std::vector<int> base_tokens(bh.n_tokens);
    base.read(reinterpret_cast<char*>(base_tokens.data()), static_cast<std::streamsize>(base_tokens.size() * sizeof(int)));
    if (!std::equal(used.begin(), used.end(), base_tokens.begin()))
      return fail(Error(ErrorCode::kInvalidArgument, kl_base + " was saved for other tokens (another text or tokenizer)"));
    base.seekg(static_cast<std::streamoff>(8 + sizeof bh + bh.n_tokens * sizeof(int)));
  }

  double nll = 0, nll2 = 0, kl_sum = 0, kl2 = 0, kl_max = 0;
  int64_t scored = 0, same_top = 0;
  std::vector<double> lp;
  std::vector<float> row(static_cast<size_t>(vocab)), base_row(static_cast<size_t>(vocab));
  const bool tty = isatty(2) && !json;
  for (int c = 0; c < n_chunks; ++c) {
    std::vector<int> chunk(used.begin() + static_cast<int64_t>(c) * ctx, used.begin() + static_cast<int64_t>(c + 1) * ctx);
    if (tok.bos_id() >= 0 && tok.adds_bos()) chunk[0] = tok.bos_id();
    (*session)->reset();
    auto logits = (*session)->append(chunk);
    if (!logits) return fail(logits.error());
    for (int j = first; j < ctx - 1; ++j) {
      log_softmax(logits.value() + static_cast<int64_t>(j) * vocab, vocab, &lp);
      const double l = -lp[static_cast<size_t>(chunk[static_cast<size_t>(j + 1)])];
      nll += l;
      nll2 += l * l;
      for (int i = 0; i < vocab; ++i) row[static_cast<size_t>(i)] = static_cast<float>(lp[static_cast<size_t>(i)]);
      if (save.is_open()) save.write(reinterpret_cast<const char*>(row.data()), static_cast<std::streamsize>(row.size() * sizeof(float)));
      if (base.is_open()) {
        base.read(reinterpret_cast<char*>(base_row.data()), static_cast<std::streamsize>(base_row.size() * sizeof(float)));
        if (!base) return fail(Error(ErrorCode::kCorruptFile, kl_base + " ends early"));
        double kl = 0;
        for (int i = 0; i < vocab; ++i) {
          const double b = base_row[static_cast<size_t>(i)];
          kl += std::exp(b) * (b - lp[static_cast<size_t>(i)]);
        }
        kl = std::max(kl, 0.0);
        kl_sum += kl;
        kl2 += kl * kl;
        kl_max = std::max(kl_max, kl);
        same_top +=
            std::max_element(base_row.begin(), base_row.end()) - base_row.begin() == std::max_element(lp.begin(), lp.end()) - lp.begin();
      }
      ++scored;
    }
    if (tty) std::fprintf(stderr, "chunk %d/%d: perplexity so far %.4f\r", c + 1, n_chunks, std::exp(nll / static_cast<double>(scored)));
  }
  if (tty) std::fprintf(stderr, "\n");
  const double n = static_cast<double>(scored);
  const double mean_nll = nll / n, ppl = std::exp(mean_nll);
  // Standard errors of the means (the perplexity's through its log).
  const double nll_se = std::sqrt(std::max(0.0, nll2 / n - mean_nll * mean_nll) / std::max(1.0, n - 1));
  nlohmann::json out = {{"model", model_dir}, {"tokens", used.size()}, {"chunks", n_chunks},           {"chunk", ctx},
                        {"scored", scored},   {"perplexity", ppl},     {"perplexity_se", ppl * nll_se}};
  if (base.is_open()) {
    const double mean_kl = kl_sum / n;
    out["kl_mean"] = mean_kl;
    out["kl_se"] = std::sqrt(std::max(0.0, kl2 / n - mean_kl * mean_kl) / std::max(1.0, n - 1));
    out["kl_max"] = kl_max;
    out["top1_agreement"] = static_cast<double>(same_top) / n;
  }
  if (json) {
    std::printf("%s\n", dump(out).c_str());
    return 0;
  }
  std::printf("perplexity %.4f +/- %.4f over %lld tokens (%d chunks of %d, the second half of each scored)\n", ppl, ppl * nll_se,
              static_cast<long long>(scored), n_chunks, ctx);
  if (base.is_open())
    std::printf("vs %s: mean KL %.6f +/- %.6f, max KL %.4f, same top-1 token %.2f%%\n", kl_base.c_str(), out["kl_mean"].get<double>(),
                out["kl_se"].get<double>(), kl_max, 100.0 * out["top1_agreement"].get<double>());
  return 0;
}

}  // namespace wick::cli
