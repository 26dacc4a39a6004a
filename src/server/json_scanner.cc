#include "server/json_scanner.h"

namespace mies::server {

namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

JsonScanner::Result JsonScanner::Fail() {
  mode_ = Mode::kFailed;
  final_ = Result::kInvalid;
  return Result::kInvalid;
}

JsonScanner::Result JsonScanner::ValueEnded() {
  if (stack_.empty()) {
    mode_ = Mode::kDone;
    final_ = Result::kEnded;
    return Result::kEnded;
  }
  mode_ = Mode::kAfterValue;
  return Result::kMore;
}

JsonScanner::Result JsonScanner::StartValue(char c) {
  switch (c) {
    case '{':
      stack_.push_back('{');
      mode_ = Mode::kObjectFirstKey;
      return Result::kMore;
    case '[':
      stack_.push_back('[');
      mode_ = Mode::kArrayFirst;
      return Result::kMore;
    case '"':
      string_is_key_ = false;
      mode_ = Mode::kString;
      return Result::kMore;
    case 't':
      literal_ = "rue";
      mode_ = Mode::kLiteral;
      return Result::kMore;
    case 'f':
      literal_ = "alse";
      mode_ = Mode::kLiteral;
      return Result::kMore;
    case 'n':
      literal_ = "ull";
      mode_ = Mode::kLiteral;
      return Result::kMore;
    case '-':
      mode_ = Mode::kNumMinus;
      return Result::kMore;
    case '0':
      mode_ = Mode::kNumZero;
      return Result::kMore;
    default:
      if (IsDigit(c)) {
        mode_ = Mode::kNumInt;
        return Result::kMore;
      }
      return Fail();
  }
}

// `c` follows a complete number: at the top level the value ended before it; inside a container
// it is the next structural byte.
JsonScanner::Result JsonScanner::NumberEnded(char c) {
  if (stack_.empty()) {
    mode_ = Mode::kDone;
    final_ = Result::kEndedBefore;
    return Result::kEndedBefore;
  }
  mode_ = Mode::kAfterValue;
  return Feed(c);
}

JsonScanner::Result JsonScanner::Feed(char c) {
  switch (mode_) {
    case Mode::kDone:
    case Mode::kFailed:
      return final_;
    case Mode::kValue:
      if (IsWs(c)) return Result::kMore;
      return StartValue(c);
    case Mode::kArrayFirst:
      if (IsWs(c)) return Result::kMore;
      if (c == ']') {
        stack_.pop_back();
        return ValueEnded();
      }
      return StartValue(c);
    case Mode::kObjectFirstKey:
    case Mode::kObjectKey:
      if (IsWs(c)) return Result::kMore;
      if (c == '"') {
        string_is_key_ = true;
        mode_ = Mode::kString;
        return Result::kMore;
      }
      if (c == '}' && mode_ == Mode::kObjectFirstKey) {
        stack_.pop_back();
        return ValueEnded();
      }
      return Fail();
    case Mode::kColon:
      if (IsWs(c)) return Result::kMore;
      if (c != ':') return Fail();
      mode_ = Mode::kValue;
      return Result::kMore;
    case Mode::kAfterValue:
      if (IsWs(c)) return Result::kMore;
      if (c == ',') {
        mode_ = stack_.back() == '{' ? Mode::kObjectKey : Mode::kValue;
        return Result::kMore;
      }
      if ((c == '}' && stack_.back() == '{') || (c == ']' && stack_.back() == '[')) {
        stack_.pop_back();
        return ValueEnded();
      }
      return Fail();
    case Mode::kString:
      if (c == '"') {
        if (string_is_key_) {
          mode_ = Mode::kColon;
          return Result::kMore;
        }
        return ValueEnded();
      }
      if (c == '\\') {
        mode_ = Mode::kStringEscape;
        return Result::kMore;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail();
      return Result::kMore;
    case Mode::kStringEscape:
      if (c == 'u') {
        unicode_left_ = 4;
        mode_ = Mode::kStringUnicode;
        return Result::kMore;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
          c == 't') {
        mode_ = Mode::kString;
        return Result::kMore;
      }
      return Fail();
    case Mode::kStringUnicode:
      if (!IsHex(c)) return Fail();
      if (--unicode_left_ == 0) mode_ = Mode::kString;
      return Result::kMore;
    case Mode::kLiteral:
      if (c != *literal_) return Fail();
      if (*++literal_ == '\0') return ValueEnded();
      return Result::kMore;
    case Mode::kNumMinus:
      if (c == '0') {
        mode_ = Mode::kNumZero;
        return Result::kMore;
      }
      if (IsDigit(c)) {
        mode_ = Mode::kNumInt;
        return Result::kMore;
      }
      return Fail();
    case Mode::kNumZero:
    case Mode::kNumInt:
      if (IsDigit(c)) {
        if (mode_ == Mode::kNumZero) return Fail();  // no leading zeros
        return Result::kMore;
      }
      if (c == '.') {
        mode_ = Mode::kNumDot;
        return Result::kMore;
      }
      if (c == 'e' || c == 'E') {
        mode_ = Mode::kNumExp;
        return Result::kMore;
      }
      return NumberEnded(c);
    case Mode::kNumDot:
      if (!IsDigit(c)) return Fail();
      mode_ = Mode::kNumFrac;
      return Result::kMore;
    case Mode::kNumFrac:
      if (IsDigit(c)) return Result::kMore;
      if (c == 'e' || c == 'E') {
        mode_ = Mode::kNumExp;
        return Result::kMore;
      }
      return NumberEnded(c);
    case Mode::kNumExp:
      if (c == '+' || c == '-') {
        mode_ = Mode::kNumExpSign;
        return Result::kMore;
      }
      if (!IsDigit(c)) return Fail();
      mode_ = Mode::kNumExpDigits;
      return Result::kMore;
    case Mode::kNumExpSign:
      if (!IsDigit(c)) return Fail();
      mode_ = Mode::kNumExpDigits;
      return Result::kMore;
    case Mode::kNumExpDigits:
      if (IsDigit(c)) return Result::kMore;
      return NumberEnded(c);
  }
  return Fail();
}

bool JsonScanner::CompleteAtEnd() const {
  if (mode_ == Mode::kDone) return true;
  if (!stack_.empty()) return false;
  return mode_ == Mode::kNumZero || mode_ == Mode::kNumInt || mode_ == Mode::kNumFrac ||
         mode_ == Mode::kNumExpDigits;
}

}  // namespace mies::server
