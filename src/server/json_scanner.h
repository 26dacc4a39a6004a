// An incremental JSON syntax checker (RFC 8259), fed one byte at a time. It says whether the
// bytes so far can still begin a valid JSON value and where that value ends, without building
// it. Tool-call parsers use it to stream a call's arguments as they are generated and to find
// where they end when no closing tag follows (llama3_json's bare objects).
//
// Leading whitespace is accepted; the value's end is reported on its last byte, except for a
// top-level number, whose end is only known from the byte after it (kEndedBefore). Strings are
// not checked for UTF-8 validity (the detokenizer emits whole UTF-8 characters only).
#pragma once

#include <cstdint>
#include <string>

namespace mies::server {

class JsonScanner {
 public:
  enum class Result {
    kMore,         // consumed; the value is not complete yet
    kEnded,        // consumed; this byte completed the value
    kEndedBefore,  // not consumed; the value (a top-level number) ended before this byte
    kInvalid,      // not consumed; no valid JSON value continues this way
  };

  // After kEnded, kEndedBefore or kInvalid every further byte answers the same.
  Result Feed(char c);
  // End of input: true when what was fed is a complete value (a number needs no next byte).
  bool CompleteAtEnd() const;
  bool done() const { return mode_ == Mode::kDone || mode_ == Mode::kFailed; }
  int depth() const { return static_cast<int>(stack_.size()); }

 private:
  enum class Mode : uint8_t {
    kValue,           // expecting a value (leading whitespace allowed)
    kObjectFirstKey,  // after '{': a key or '}'
    kObjectKey,       // after ',' in an object: a key
    kColon,           // after a key
    kAfterValue,      // after a value inside a container: ',' or the closing bracket
    kArrayFirst,      // after '[': a value or ']'
    kString,
    kStringEscape,
    kStringUnicode,
    kLiteral,  // true / false / null, `literal_` holds what is left
    kNumMinus,
    kNumZero,
    kNumInt,
    kNumDot,
    kNumFrac,
    kNumExp,
    kNumExpSign,
    kNumExpDigits,
    kDone,
    kFailed,
  };

  Result ValueEnded();  // a scalar or container closed: back to the enclosing container
  Result StartValue(char c);
  Result NumberEnded(char c);
  Result Fail();

  Mode mode_ = Mode::kValue;
  Result final_ = Result::kInvalid;
  std::string stack_;  // '{' or '[' per open container
  bool string_is_key_ = false;
  int unicode_left_ = 0;
  const char* literal_ = nullptr;
};

}  // namespace mies::server
