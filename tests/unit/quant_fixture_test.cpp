// Dequantization against an implementation that shares nothing with wick's: block bytes and the
// floats llama.cpp's gguf-py (PyPI `gguf`, NumPy) decodes them to, written by
// tools/make_quant_fixtures.py into tests/data/quant_fixtures.json. A wrong nibble order, scale
// unpacking or sign would fail here even where wick's quantizer and dequantizer agree with each
// other.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/quant.h"

namespace wick {
namespace {

std::vector<uint8_t> from_hex(const std::string& h) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(QuantFixtures, DequantizeLikeGgufPy) {
  std::ifstream f(std::string(WICK_SOURCE_DIR) + "/tests/data/quant_fixtures.json");
  ASSERT_TRUE(f) << "tests/data/quant_fixtures.json is missing";
  const auto fx = nlohmann::json::parse(f);
  for (DType dt : kAllDTypes) {
    if (dt == DType::F32) continue;
    const char* name = dtype_name(dt);
    SCOPED_TRACE(name);
    ASSERT_TRUE(fx["types"].contains(name));
    const auto bytes = from_hex(fx["types"][name]["bytes_hex"].get<std::string>());
    const auto want = fx["types"][name]["values"].get<std::vector<double>>();
    ASSERT_EQ(dtype_row_bytes(dt, want.size()), bytes.size()) << "fixture size";
    std::vector<float> got(want.size());
    dequantize_row(dt, bytes.data(), got.data(), static_cast<int64_t>(got.size()));
    int differ = 0;
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double w = static_cast<float>(want[i]);  // the fixture holds float32 values
      const double err = std::fabs(got[i] - w);
      // Both compute in float32; K-quant products may round differently by an ulp.
      const double ulp = std::fabs(w) * 1.2e-7 + 1e-30;
      if (err > ulp) ++differ;
      worst = std::max(worst, err / std::max(std::fabs(w), 1e-12));
    }
    EXPECT_EQ(differ, 0) << differ << " of " << want.size() << " values off by more than an ulp; worst relative error " << worst;
  }
}

}  // namespace
}  // namespace wick
