// The rules every entry point applies to a request, defined once: a sequence fits the context,
// token ids lie in the vocabulary, and the default context length. Engine, sessions, generators,
// the scheduler, the embedder and the server all call these, so a limit and its message never
// differ between two ways in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wick {

// The context length when none is asked for: the model's longest (ModelConfig::max_context()),
// capped so that a 128K-context model does not size a 128K-token cache by default.
inline constexpr int kDefaultContextCap = 8192;
int default_context_length(int model_max_context);

// Throws kInvalidArgument when prompt_tokens + new_tokens > context_length:
// "prompt (P tokens) + max_new_tokens (N) = T tokens exceeds the context length of C";
// new_tokens_name names the caller's parameter (max_new_tokens, max_tokens).
void check_fits_context(int64_t prompt_tokens, int64_t new_tokens, int64_t context_length, const char* new_tokens_name = "max_new_tokens");
// The same for a sequence already being run: "WHAT INDEX (T tokens) exceeds the context length of
// C" (what: "sequence", "text"; index < 0 leaves it out). Builds no string unless it throws: the
// engine calls it for every sequence of every step.
void check_length_fits_context(int64_t tokens, int64_t context_length, const char* what, int64_t index = -1);

// Throws kInvalidArgument "token id X is outside the vocabulary (V)" for the first id of
// ids[0..n) outside [0, vocab).
void check_token_ids(const int32_t* ids, size_t n, int64_t vocab);

}  // namespace wick
