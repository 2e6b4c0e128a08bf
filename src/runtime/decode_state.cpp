#include "runtime/decode_state.h"

#include <algorithm>

namespace wick {

std::vector<int> stop_token_ids(const Model& model, const GenerateParams& params) {
  std::vector<int> stops = params.stop_token_ids;
  if (!params.ignore_eos) {
    const auto& eos = model.config().eos_token_ids;
    stops.insert(stops.end(), eos.begin(), eos.end());
    if (eos.empty() && model.tokenizer().eos_id() >= 0) stops.push_back(model.tokenizer().eos_id());
  }
  return stops;
}

void validate_generate_params(const GenerateParams& params) {
  validate_sampling(params.sampling);
  if (params.max_new_tokens < 0)
    throw Error(ErrorCode::kInvalidArgument, "max_new_tokens must be >= 0, got " + std::to_string(params.max_new_tokens));
  for (const auto& s : params.stop)
    if (s.empty()) throw Error(ErrorCode::kInvalidArgument, "stop strings must not be empty");
  if (params.top_logprobs < 0 || params.top_logprobs > 100)
    throw Error(ErrorCode::kInvalidArgument, "top_logprobs must be in 0..100, got " + std::to_string(params.top_logprobs));
}

DecodeState::DecodeState(const Model& model, const GenerateParams& params, uint64_t seed, std::vector<int> prompt_tokens)
    : model_(model),
      params_(params),
      sampler_(model.config().vocab_size,
               [&] {
                 SamplingParams sp = params.sampling;
                 sp.seed = seed;
                 return sp;
               }()),
      stream_(model.tokenizer()),
      stop_ids_(stop_token_ids(model, params)) {
  sampler_.set_prompt(prompt_tokens);
  stream_.prime(prompt_tokens);  // streamed text continues the prompt's text
  r_.prompt_tokens = std::move(prompt_tokens);
  r_.finish_reason = "length";
  const size_t n = static_cast<size_t>(params.max_new_tokens);
  r_.tokens.reserve(n);
  r_.logprobs.reserve(n);
  if (params.processed_logprobs) r_.processed_logprobs.reserve(n);
  if (params.max_new_tokens == 0) finished_ = true;
}

size_t DecodeState::held_back() const {
  size_t keep = 0;
  const std::string& t = r_.text;
  for (const std::string& s : params_.stop)
    for (size_t k = std::min(s.size() - 1, t.size()); k > keep; --k)
      if (t.compare(t.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
  return keep;
}

void DecodeState::emit_up_to(size_t end) {
  if (end <= emitted_) return;
  if (params_.on_text) params_.on_text(r_.text.substr(emitted_, end - emitted_));
  emitted_ = end;
}

void DecodeState::add_text(const std::string& piece) {
  if (piece.empty()) return;
  const size_t old = r_.text.size();
  r_.text += piece;
  if (!params_.stop.empty()) {
    // Earliest stop string in the new text (it may begin in text added by earlier tokens).
    size_t cut = std::string::npos;
    const std::string* hit = nullptr;
    for (const std::string& s : params_.stop) {
      const size_t from = old >= s.size() - 1 ? old - (s.size() - 1) : 0;
      const size_t at = r_.text.find(s, from);
      if (at != std::string::npos && at < cut) cut = at, hit = &s;
    }
    if (hit) {
      r_.text.resize(cut);
      r_.finish_reason = "stop";
      r_.stop_reason = *hit;
      finished_ = true;
      emit_up_to(r_.text.size());
      return;
    }
  }
  emit_up_to(r_.text.size() - held_back());
}

int DecodeState::step(const float* logits) {
  if (finished_) throw Error(ErrorCode::kInternal, "decode: the sequence has already finished");
  const SampledToken s = sampler_.sample(logits);
  r_.tokens.push_back(s.token);
  r_.logprobs.push_back(s.logprob);
  r_.logprob += s.logprob;
  if (params_.processed_logprobs) r_.processed_logprobs.push_back(s.processed_logprob);
  if (params_.top_logprobs > 0) {
    top_logprobs(logits, model_.config().vocab_size, params_.top_logprobs, s.log_z, top_);
    r_.top_logprobs.push_back(top_);
  }
  if (std::find(stop_ids_.begin(), stop_ids_.end(), s.token) != stop_ids_.end()) {
    r_.finish_reason = "stop";
    r_.stop_reason = "token:" + std::to_string(s.token);
    finished_ = true;
    return s.token;
  }
  add_text(stream_.push(s.token));
  if (!finished_ && static_cast<int>(r_.tokens.size()) >= params_.max_new_tokens) finished_ = true;
  return s.token;
}

GenerateResult& DecodeState::finish() {
  if (flushed_) return r_;
  flushed_ = true;
  // Unless a stop string already ended it, the bytes still held by the stream decoder (an
  // incomplete character) are part of the text, and may complete a stop string.
  const bool stopped_by_string = r_.finish_reason == "stop" && r_.stop_reason.rfind("token:", 0) != 0;
  if (!stopped_by_string) add_text(stream_.flush());
  finished_ = true;
  emit_up_to(r_.text.size());
  return r_;
}

}  // namespace wick
