#include "wick/generate.h"

#include <chrono>

#include "runtime/decode_state.h"
#include "core/limits.h"

namespace wick {
namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

Result<GenerateResult> generate_from_tokens(Session& session, const std::vector<int>& prompt_tokens, const GenerateParams& params) {
  return capture_errors([&] {
    validate_generate_params(params);
    if (params.prompt_logprobs)
      throw Error(ErrorCode::kInvalidArgument, "prompt log-probs need a Generator (wick/generator.h), not a Session");
    if (prompt_tokens.empty()) throw Error(ErrorCode::kInvalidArgument, "the prompt is empty (no tokens)");
    check_fits_context(static_cast<int64_t>(prompt_tokens.size()), params.max_new_tokens, session.context_length());
    DecodeState state(session.model(), params, params.sampling.seed, prompt_tokens);
    session.reset();
    auto t0 = Clock::now();
    auto appended = session.append(prompt_tokens);
    if (!appended) throw appended.error();
    const float* logits = appended.value();
    const double prefill = seconds_since(t0);
    t0 = Clock::now();
    while (!state.finished()) {
      const int tok = state.step(logits);
      if (state.finished()) break;
      auto next = session.append(&tok, 1);  // no allocation per step
      if (!next) throw next.error();
      logits = next.value();
    }
    GenerateResult r = std::move(state.finish());
    r.prefill_seconds = prefill;
    r.decode_seconds = seconds_since(t0);
    return r;
  });
}

Result<GenerateResult> generate(Session& session, const std::string& prompt, const GenerateParams& params) {
  auto ids = session.model().tokenizer().encode(prompt, {params.add_special_tokens, true});
  if (!ids) return ids.error();
  return generate_from_tokens(session, ids.value(), params);
}

}  // namespace wick
