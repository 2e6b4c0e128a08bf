// Element types of weights and activations, including block-quantized formats.
//
// A tensor row of `n` elements of a block type occupies (n / block_size) * block_bytes bytes;
// plain types are blocks of one element. The quantized types are declared here (with the GGUF
// layouts of ggml: 32-element Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/IQ4_NL blocks, 256-element K-quant and
// IQ4_XS super-blocks); core/quant.h decodes them, the CPU backend computes with them in integers.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace wick {

enum class DType : uint8_t { F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS };

struct DTypeInfo {
  const char* name;
  int block_size;   // elements per block
  int block_bytes;  // bytes per block
  bool quantized;
};

// Every DType, in declaration order.
inline constexpr DType kAllDTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,   DType::Q4_0,
                                       DType::Q4_K, DType::Q6_K, DType::Q4_1, DType::Q5_0,   DType::Q5_1,
                                       DType::Q2_K, DType::Q3_K, DType::Q5_K, DType::IQ4_NL, DType::IQ4_XS};

const DTypeInfo& dtype_info(DType t);
// A DType by its name in either case ("q8_0", "Q8_0", "bf16"); nullopt for anything else.
std::optional<DType> dtype_from_name(std::string_view name);
// The names dtype_from_name accepts, "f32, f16, bf16, q8_0, ..." (lower case) or "F32, F16, ...":
// the one list every message and --help shows. only_plain: F32, F16 and BF16.
std::string dtype_name_list(bool lower_case = true, bool only_plain = false);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
// Bytes used by `n` consecutive elements; n must be a multiple of the block size.
inline uint64_t dtype_row_bytes(DType t, uint64_t n) {
  const auto& i = dtype_info(t);
  return n / static_cast<uint64_t>(i.block_size) * static_cast<uint64_t>(i.block_bytes);
}
// Parses safetensors names ("F32", "F16", "BF16"); nullopt for anything else.
std::optional<DType> dtype_from_safetensors(std::string_view name);
const char* dtype_to_safetensors(DType t);

// IEEE half <-> float, exact for every half value (round-to-nearest-even on the way down).
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal half: value = mant * 2^-24, normalise
    float f = static_cast<float>(mant) * (1.0f / 16777216.0f);
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

uint16_t f32_to_f16(float f);

// bfloat16 is the top half of an IEEE float.
inline float bf16_to_f32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}
// Round-to-nearest-even, as torch does when casting to bfloat16.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // nan
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// Converts `n` elements of a plain (non-block) type to float.
void convert_to_f32(DType t, const void* src, float* dst, int64_t n);

}  // namespace wick
