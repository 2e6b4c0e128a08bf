// libFuzzer target: arbitrary bytes through the safetensors header parser. Any input must end
// in a clean wick::Error or tensor views that lie inside the bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/safetensors.h"
#include "wick/error.h"

// Reads land here so the compiler cannot drop them.
static volatile uint8_t g_sink = 0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    wick::SafetensorsFile f(std::vector<uint8_t>(data, data + size), "fuzz.safetensors");
    for (const auto& [name, t] : f.tensors())
      if (t.nbytes() > 0) g_sink ^= static_cast<const uint8_t*>(t.data)[t.nbytes() - 1];
  } catch (const wick::Error&) {}
  return 0;
}
