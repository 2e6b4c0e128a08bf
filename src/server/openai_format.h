// Building OpenAI-format responses: ids, Server-Sent Events framing, usage, finish reasons, and
// the two log-probability formats — the legacy completions one (tokens, token_logprobs,
// top_logprobs, text_offset) and the chat one (content: [{token, logprob, bytes, top_logprobs}]).
#pragma once

#include <string>
#include <vector>

#include "server/api_error.h"
#include "wick/generate.h"
#include "wick/tokenizer.h"

namespace wick::server {

std::string new_id(const std::string& prefix);  // prefix + 24 random hex digits
int64_t unix_now();
// One SSE event: "data: <json>\n\n" (invalid UTF-8 replaced by U+FFFD).
std::string sse(const json& j);
std::string dump(const json& j);  // one line, invalid UTF-8 replaced
json usage_json(int64_t prompt_tokens, int64_t completion_tokens);
// vLLM's stop_reason: the stop string, the token id of a stop_token_ids hit, null for EOS and
// length.
json stop_reason_json(const GenerateResult& r, const std::vector<int>& eos_ids);

// The text each token adds in context (decode(context + token) minus decode(context)), which
// is what the log-prob "token" strings show; invalid UTF-8 pieces stay bytes (the JSON shows
// U+FFFD, the chat format's "bytes" has them exactly).
class PieceDecoder {
 public:
  explicit PieceDecoder(const Tokenizer& tok) : tok_(tok) {}
  void prime(const std::vector<int>& context);  // the tokens before the first piece
  std::string peek(int token) const;            // the piece without consuming it
  std::string next(int token);                  // the piece, then token becomes context

 private:
  static constexpr size_t kContext = 4;
  const Tokenizer& tok_;
  std::vector<int> ctx_;
};

// Legacy (completions) log-probs of `tokens` starting at text offset `offset` (advanced):
// token_logprobs[i] null where the log-prob is NaN (the first prompt token).
struct LegacyLogprobs {
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(), text_offset = json::array();
  void add(const std::string& piece, float logprob, const json& top, int64_t& offset);
  json to_json() const;
};
json legacy_top(PieceDecoder& pieces, const std::vector<TokenLogprob>& top, int token, float logprob);

// One chat log-prob entry: {token, logprob, bytes, top_logprobs}.
json chat_logprob_entry(PieceDecoder& pieces, int token, float logprob, const std::vector<TokenLogprob>& top, int n_top);

int64_t utf8_length(const std::string& s);  // code points, as Python's len()

}  // namespace wick::server
