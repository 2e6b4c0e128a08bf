// libFuzzer target: arbitrary bytes as the body of every HTTP API request (the first byte picks
// the endpoint). Any input must end in a typed request or an ApiError with a 4xx status; nothing
// may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/request_parsing.h"

using namespace wick::server;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const json j = parse_body(body);
    switch (data[0] % 9) {
      case 0: parse_completion(j); break;
      case 1: parse_chat(j); break;
      case 2: parse_embedding(j); break;
      case 3: parse_candidates(j); break;
      case 4: parse_score(j); break;
      case 5: parse_tokenize(j); break;
      case 6: parse_detokenize(j); break;
      case 7: parse_apply_template(j); break;
      default: parse_execute(j); break;
    }
  } catch (const ApiError& e) {
    if (e.status < 400 || e.status >= 500) std::abort();  // bad input is the client's error
  }
  return 0;
}
