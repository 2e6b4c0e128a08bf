#include "server/openai_format.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <random>

namespace wick::server {

std::string new_id(const std::string& prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  uint64_t a, b;
  {
    std::lock_guard<std::mutex> lock(mu);
    a = rng();
    b = rng();
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx%08llx", static_cast<unsigned long long>(a), static_cast<unsigned long long>(b & 0xffffffffull));
  return prefix + buf;
}

int64_t unix_now() { return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

json usage_json(int64_t prompt, int64_t completion) {
  return {{"prompt_tokens", prompt}, {"total_tokens", prompt + completion}, {"completion_tokens", completion}};
}

json stop_reason_json(const GenerateResult& r, const std::vector<int>& eos_ids) {
  if (r.finish_reason != "stop" || r.stop_reason.empty()) return nullptr;
  if (r.stop_reason.rfind("token:", 0) == 0) {
    const int id = std::stoi(r.stop_reason.substr(6));
    if (std::find(eos_ids.begin(), eos_ids.end(), id) != eos_ids.end()) return nullptr;
    return id;
  }
  return r.stop_reason;
}

void PieceDecoder::prime(const std::vector<int>& context) {
  const size_t from = context.size() > kContext ? context.size() - kContext : 0;
  ctx_.assign(context.begin() + static_cast<std::ptrdiff_t>(from), context.end());
}

std::string PieceDecoder::peek(int token) const {
  const std::string before = tok_.decode(ctx_, false);
  std::vector<int> with = ctx_;
  with.push_back(token);
  const std::string after = tok_.decode(with, false);
  if (after.compare(0, before.size(), before) == 0) return after.substr(before.size());
  return tok_.decode({token}, false);
}

std::string PieceDecoder::next(int token) {
  std::string p = peek(token);
  ctx_.push_back(token);
  if (ctx_.size() > kContext) ctx_.erase(ctx_.begin());
  return p;
}

int64_t utf8_length(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80 ? 1 : 0;
  return n;
}

void LegacyLogprobs::add(const std::string& piece, float logprob, const json& top, int64_t& offset) {
  tokens.push_back(piece);
  token_logprobs.push_back(std::isnan(logprob) ? json(nullptr) : json(logprob));
  top_logprobs.push_back(top);
  text_offset.push_back(offset);
  offset += utf8_length(piece);
}

json LegacyLogprobs::to_json() const {
  return {{"text_offset", text_offset}, {"token_logprobs", token_logprobs}, {"tokens", tokens}, {"top_logprobs", top_logprobs}};
}

json legacy_top(PieceDecoder& pieces, const std::vector<TokenLogprob>& top, int token, float logprob) {
  json t = json::object();
  for (const TokenLogprob& a : top) t[pieces.peek(a.token)] = a.logprob;
  t[pieces.peek(token)] = logprob;  // the sampled token is always listed, as vLLM does
  return t;
}

json chat_logprob_entry(PieceDecoder& pieces, int token, float logprob, const std::vector<TokenLogprob>& top, int n_top) {
  auto bytes_of = [](const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back(static_cast<int>(c));
    return b;
  };
  json alts = json::array();
  for (size_t i = 0; i < top.size() && static_cast<int>(i) < n_top; ++i) {
    const std::string p = pieces.peek(top[i].token);
    alts.push_back({{"token", p}, {"logprob", top[i].logprob}, {"bytes", bytes_of(p)}});
  }
  const std::string piece = pieces.next(token);
  return {{"token", piece}, {"logprob", logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", alts}};
}

}  // namespace wick::server
