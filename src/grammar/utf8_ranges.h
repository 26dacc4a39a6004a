// Code point ranges as UTF-8 byte automata: a range of scalar values becomes a few sequences of
// byte ranges (the construction of RE2 and Rust's utf8-ranges), e.g. U+0080..U+07FF ->
// [C2-DF][80-BF].
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace mies::grammar {

struct ByteRange {
  uint8_t lo = 0;
  uint8_t hi = 0;
};
using Utf8Sequence = std::vector<ByteRange>;  // one byte range per position, 1 to 4 long

// `lo` <= `hi`, neither a surrogate and the range holding none.
std::vector<Utf8Sequence> Utf8Sequences(uint32_t lo, uint32_t hi);

// The value of `digits` hex digits at the start of `text`; nullopt when they are not there.
std::optional<uint32_t> ParseHex(std::string_view text, size_t digits);

}  // namespace mies::grammar
