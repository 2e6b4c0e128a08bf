#include "core/dtype.h"

#include <cctype>

#include "wick/error.h"

namespace wick {

const DTypeInfo& dtype_info(DType t) {
  // Block layouts follow ggml (ggml-common.h): Q8_0 = f16 scale + 32 int8; Q4_0 = f16 scale +
  // 16 bytes of nibbles; Q4_K = 2 f16 + 12 bytes scales + 128 bytes nibbles per 256;
  // Q6_K = 128 + 64 + 16 bytes + f16 per 256; the others are listed with their structs in
  // core/quant.h (the static_asserts there check these sizes).
  static const DTypeInfo kInfo[] = {
      {"F32", 1, 4, false},     {"F16", 1, 2, false},     {"BF16", 1, 2, false},    {"Q8_0", 32, 34, true},   {"Q4_0", 32, 18, true},
      {"Q4_K", 256, 144, true}, {"Q6_K", 256, 210, true}, {"Q4_1", 32, 20, true},   {"Q5_0", 32, 22, true},   {"Q5_1", 32, 24, true},
      {"Q2_K", 256, 84, true},  {"Q3_K", 256, 110, true}, {"Q5_K", 256, 176, true}, {"IQ4_NL", 32, 18, true}, {"IQ4_XS", 256, 136, true},
  };
  return kInfo[static_cast<int>(t)];
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (DType t : kAllDTypes) {
    const std::string_view n = dtype_name(t);
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i) same = std::toupper(static_cast<unsigned char>(name[i])) == n[i];
    if (same) return t;
  }
  return std::nullopt;
}

std::string dtype_name_list(bool lower_case, bool only_plain) {
  std::string out;
  for (DType t : kAllDTypes) {
    if (only_plain && dtype_info(t).quantized) continue;
    std::string n = dtype_name(t);
    if (lower_case)
      for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

std::optional<DType> dtype_from_safetensors(std::string_view name) {
  if (name == "F32") return DType::F32;
  if (name == "F16") return DType::F16;
  if (name == "BF16") return DType::BF16;
  return std::nullopt;
}

const char* dtype_to_safetensors(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    default: throw Error(ErrorCode::kUnsupported, std::string("dtype ") + dtype_name(t) + " cannot be stored in safetensors");
  }
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);   // nan
  if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                               // subnormal or zero in half: scale into integer mantissa, round
    float af;
    std::memcpy(&af, &abs, 4);
    // af * 2^24 rounded to nearest even gives the subnormal mantissa (may carry into exp 1).
    const float scaled = af * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(scaled);
    const float rem = scaled - static_cast<float>(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) ++m;
    return static_cast<uint16_t>(sign | m);
  }
  // normal: rebias exponent, round mantissa 23 -> 10 bits to nearest even
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

void convert_to_f32(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    default: throw Error(ErrorCode::kUnsupported, std::string("no f32 conversion for dtype ") + dtype_name(t) + " yet");
  }
}

}  // namespace wick
