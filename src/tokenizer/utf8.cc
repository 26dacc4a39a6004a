#include "tokenizer/utf8.h"

namespace mies::tokenizer {
namespace {

// Length of the well-formed sequence at s[i] (Unicode table 3-7), or 0 when ill-formed.
// `*subpart` receives the length of the maximal ill-formed subpart when it is (>= 1).
size_t WellFormedLength(std::string_view s, size_t i, size_t* subpart) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    *subpart = 1;
    return 0;
  }
  size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= s.size()) break;
    const auto b = static_cast<unsigned char>(s[i + k]);
    const unsigned char l = (k == 1) ? lo : 0x80;
    const unsigned char h = (k == 1) ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  if (k == need + 1) return need + 1;
  *subpart = k;
  return 0;
}

}  // namespace

size_t FindInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t subpart = 0;
    const size_t n = WellFormedLength(s, i, &subpart);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

void AppendCodePoint(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string DecodeUtf8Lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      out.push_back(bytes[i++]);
      continue;
    }
    size_t subpart = 0;
    const size_t n = WellFormedLength(bytes, i, &subpart);
    if (n > 0) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      AppendCodePoint(kReplacementChar, &out);
      i += subpart;
    }
  }
  return out;
}

size_t CompleteUtf8Prefix(std::string_view bytes) {
  // Only the last 3 bytes can start an unfinished sequence.
  const size_t n = bytes.size();
  const size_t from = n > 3 ? n - 3 : 0;
  for (size_t i = from; i < n; ++i) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0xC2 || b0 > 0xF4) continue;
    size_t subpart = 0;
    if (WellFormedLength(bytes, i, &subpart) != 0) continue;
    // Ill-formed only because the input ends: a prefix of a valid sequence.
    if (i + subpart == n) return i;
  }
  return n;
}

bool IsJsWhitespace(uint32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::string_view TrimJsWhitespaceLeft(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t next = i;
    if (!IsJsWhitespace(NextCodePoint(s, next))) break;
    i = next;
  }
  return s.substr(i);
}

std::string_view TrimJsWhitespaceRight(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!IsJsWhitespace(NextCodePoint(s, i))) break;
    end = start;
  }
  return s.substr(0, end);
}

}  // namespace mies::tokenizer
