// UTF-8 helpers for the tokenizer: validation, code point iteration, lossy decoding of byte
// streams (WHATWG "replacement" semantics, as TextDecoder and the reference tokenizer use), and
// the completeness test the streaming detokenizer needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mies::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Offset of the first byte that is not part of a well-formed UTF-8 sequence, or npos.
size_t FindInvalidUtf8(std::string_view s);

// Decodes the code point at s[i] and advances i. `s` must be valid UTF-8.
inline uint32_t NextCodePoint(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if (b0 < 0xE0) {
    const uint32_t cp = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    i += 2;
    return cp;
  }
  if (b0 < 0xF0) {
    const uint32_t cp = ((b0 & 0x0Fu) << 12) |
                        ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                        (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    i += 3;
    return cp;
  }
  const uint32_t cp = ((b0 & 0x07u) << 18) |
                      ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) |
                      ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) |
                      (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
  i += 4;
  return cp;
}

// Byte length of the (valid) sequence whose lead byte is `b0`.
inline size_t SequenceLength(unsigned char b0) {
  return b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
}

void AppendCodePoint(uint32_t cp, std::string* out);

// Decodes arbitrary bytes, replacing every maximal ill-formed subpart by one U+FFFD (the
// WHATWG/Unicode "best practice" that TextDecoder implements). Valid input comes back as is.
std::string DecodeUtf8Lossy(std::string_view bytes);

// Length of the longest prefix of `bytes` that does not end inside a sequence that could
// still become valid with more bytes. Invalid bytes count as complete (they decode to U+FFFD
// whatever follows).
size_t CompleteUtf8Prefix(std::string_view bytes);

// JavaScript's String.prototype.trim whitespace set (WhiteSpace + LineTerminator), used for
// added tokens' lstrip/rstrip and the Strip normalizer, as the reference does.
bool IsJsWhitespace(uint32_t cp);
std::string_view TrimJsWhitespaceLeft(std::string_view s);
std::string_view TrimJsWhitespaceRight(std::string_view s);

}  // namespace mies::tokenizer
