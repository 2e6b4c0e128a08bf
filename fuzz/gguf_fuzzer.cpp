// libFuzzer target: arbitrary bytes through the GGUF reader and everything that consumes its
// metadata (model config, weight table, tokenizer). Any input must end in a clean wick::Error
// or a valid model description: no crash, no out-of-bounds read (run under ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/gguf.h"
#include "models/model.h"
#include "tokenizer/tokenizer_impl.h"
#include "wick/error.h"

// Reads land here so the compiler cannot drop them.
static volatile uint8_t g_sink = 0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<wick::GgufFile> file;
  try {
    file = wick::GgufFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
  } catch (const wick::Error&) {
    return 0;
  }
  try {
    auto tok = wick::load_gguf_tokenizer(*file);
    std::vector<int> ids;
    tok->encode("Hello world <s> 123", {true, true}, ids);
  } catch (const wick::Error&) {}
  try {
    auto m = wick::load_gguf_model(std::move(file));
    // Touch every bound weight's bytes: a view that passed validation must lie in the file.
    for (const auto& L : m->weights.layers)
      for (const wick::Tensor* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
        if (!t->empty()) g_sink ^= static_cast<const uint8_t*>(t->data)[t->nbytes() - 1];
  } catch (const wick::Error&) {}
  return 0;
}
