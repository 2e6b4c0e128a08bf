#include "wick/generate.h"

#include <algorithm>
#include <chrono>

#include "runtime/sampler.h"

namespace wick {
namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

Result<GenerateResult> generate_from_tokens(Session& session, const std::vector<int>& prompt_tokens,
                                            const GenerateParams& params) {
  return capture_errors([&] {
    const Model& model = session.model();
    const ModelConfig& cfg = model.config();
    validate_sampling(params.sampling);
    if (params.max_new_tokens < 0)
      throw Error(ErrorCode::kInvalidArgument, "max_new_tokens must be >= 0, got " + std::to_string(params.max_new_tokens));
    if (prompt_tokens.empty()) throw Error(ErrorCode::kInvalidArgument, "the prompt is empty (no tokens)");
    const int64_t total = static_cast<int64_t>(prompt_tokens.size()) + params.max_new_tokens;
    if (total > session.context_length())
      throw Error(ErrorCode::kInvalidArgument,
                  "prompt (" + std::to_string(prompt_tokens.size()) + " tokens) + max_new_tokens (" +
                      std::to_string(params.max_new_tokens) + ") = " + std::to_string(total) +
                      " tokens exceeds the context length of " + std::to_string(session.context_length()));
    std::vector<int> stops = params.stop_token_ids;
    if (!params.ignore_eos) {
      stops.insert(stops.end(), cfg.eos_token_ids.begin(), cfg.eos_token_ids.end());
      if (cfg.eos_token_ids.empty() && model.tokenizer().eos_id() >= 0) stops.push_back(model.tokenizer().eos_id());
    }

    GenerateResult r;
    r.prompt_tokens = prompt_tokens;
    r.tokens.reserve(static_cast<size_t>(params.max_new_tokens));
    r.logprobs.reserve(static_cast<size_t>(params.max_new_tokens));
    r.finish_reason = "length";
    Sampler sampler(cfg.vocab_size, params.sampling);
    StreamDecoder stream(model.tokenizer());
    stream.prime(prompt_tokens);  // streamed text continues the prompt's text

    session.reset();
    auto t0 = Clock::now();
    auto appended = session.append(prompt_tokens);
    if (!appended) throw appended.error();
    const float* logits = appended.value();
    r.prefill_seconds = seconds_since(t0);
    t0 = Clock::now();
    for (int i = 0; i < params.max_new_tokens; ++i) {
      const int tok = sampler.sample(logits);
      r.tokens.push_back(tok);
      r.logprobs.push_back(token_logprob(logits, cfg.vocab_size, tok));
      if (std::find(stops.begin(), stops.end(), tok) != stops.end()) {
        r.finish_reason = "stop";
        break;
      }
      if (params.on_text) {
        const std::string piece = stream.push(tok);
        if (!piece.empty()) params.on_text(piece);
      }
      if (i + 1 == params.max_new_tokens) break;
      auto next = session.append(&tok, 1);  // no allocation per step
      if (!next) throw next.error();
      logits = next.value();
    }
    if (params.on_text) {
      const std::string rest = stream.flush();
      if (!rest.empty()) params.on_text(rest);
    }
    r.decode_seconds = seconds_since(t0);
    r.text = model.tokenizer().decode(r.tokens, /*skip_special=*/true);
    return r;
  });
}

Result<GenerateResult> generate(Session& session, const std::string& prompt, const GenerateParams& params) {
  auto ids = session.model().tokenizer().encode(prompt, {params.add_special_tokens, true});
  if (!ids) return ids.error();
  return generate_from_tokens(session, ids.value(), params);
}

}  // namespace wick
