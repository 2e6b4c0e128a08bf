// UTF-8 helpers and the GPT-2 byte <-> unicode mapping used by byte-level BPE.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace wick {

// Length of the UTF-8 sequence starting with byte c (1 for invalid lead bytes).
inline int utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;
}
void append_utf8(std::string& out, uint32_t cp);
// Code point of the n-byte (1-3) sequence at p, which the caller has validated.
inline uint32_t decode_utf8(const char* p, size_t n) {
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  if (n == 1) return b(0);
  if (n == 2) return ((b(0) & 0x1Fu) << 6) | (b(1) & 0x3Fu);
  return ((b(0) & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu);
}
// Well-formed UTF-8 (no stray continuation bytes, overlong 2-byte leads or leads past U+10FFFF).
bool is_valid_utf8(std::string_view s);
// Replaces each ill-formed subsequence with U+FFFD (one per maximal subpart, as Rust's
// String::from_utf8_lossy and the Unicode standard's recommended practice do).
std::string utf8_lossy(std::string_view s);
// Number of bytes at the end of s that form an incomplete UTF-8 sequence (0 if complete).
size_t incomplete_utf8_tail(std::string_view s);

// Replaces every occurrence of `pattern` (non-empty) in s with `content`.
void replace_all(std::string& s, std::string_view pattern, std::string_view content);

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100.. in order.
const std::array<std::string, 256>& byte_to_unicode();
// Inverse, for decoding; returns -1 for code points outside the table.
int unicode_to_byte(uint32_t cp);

}  // namespace wick
