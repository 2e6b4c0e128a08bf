#include "core/limits.h"

#include <algorithm>

#include "wick/error.h"

namespace wick {

int default_context_length(int model_max_context) { return std::min(model_max_context, kDefaultContextCap); }

void check_fits_context(int64_t prompt_tokens, int64_t new_tokens, int64_t context_length, const char* new_tokens_name) {
  const int64_t total = prompt_tokens + new_tokens;
  if (total <= context_length) return;
  throw Error(ErrorCode::kInvalidArgument, "prompt (" + std::to_string(prompt_tokens) + " tokens) + " + new_tokens_name + " (" +
                                               std::to_string(new_tokens) + ") = " + std::to_string(total) +
                                               " tokens exceeds the context length of " + std::to_string(context_length));
}

void check_length_fits_context(int64_t tokens, int64_t context_length, const char* what, int64_t index) {
  if (tokens <= context_length) return;
  throw Error(ErrorCode::kInvalidArgument, std::string(what) + (index >= 0 ? " " + std::to_string(index) : "") + " (" +
                                               std::to_string(tokens) + " tokens) exceeds the context length of " +
                                               std::to_string(context_length));
}

void check_token_ids(const int32_t* ids, size_t n, int64_t vocab) {
  for (size_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      throw Error(ErrorCode::kInvalidArgument,
                  "token id " + std::to_string(ids[i]) + " is outside the vocabulary (" + std::to_string(vocab) + ")");
}

}  // namespace wick
