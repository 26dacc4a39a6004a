#include "jinja/py_string.h"

#include <algorithm>

namespace mies::jinja::py {

std::u32string Decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (b0 < 0x80) {
      len = 1;
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      cp = b0 & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string Encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendUtf8(out, c);
  return out;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool IsSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool IsPrintable(char32_t c) {
  if (c == ' ') return true;
  if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0xA0) || c == 0xAD) return false;
  if (IsSpace(c)) return false;  // Zs/Zl/Zp other than the ASCII space
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E ||
      (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
      (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) ||
      (c >= 0xD800 && c <= 0xF8FF) || (c >= 0xE0000 && c <= 0xE007F) || c >= 0xF0000) {
    return false;  // Cf, Cs, Co
  }
  return true;
}

namespace {

// Simple (one-to-one) case pairs for the scripts chat content commonly uses: Latin, Greek,
// Cyrillic, Armenian, full-width Latin. Returns 0 when `c` has no lowercase mapping.
char32_t LowerOf(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return 0;
  // Latin digraphs with upper, title and lower forms (DŽ Dž dž, LJ Lj lj, NJ Nj nj, DZ Dz dz).
  if (c == 0x1C4 || c == 0x1C5 || c == 0x1C7 || c == 0x1C8 || c == 0x1CA || c == 0x1CB) {
    return (c == 0x1C4 || c == 0x1C7 || c == 0x1CA) ? c + 2 : c + 1;
  }
  if (c == 0x1F1 || c == 0x1F2) return 0x1F3;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177) || (c >= 0x460 && c <= 0x481) ||
      (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F) || (c >= 0x1E00 && c <= 0x1E95) ||
      (c >= 0x1EA0 && c <= 0x1EFF)) {
    return (c % 2 == 0 && c != 0x130) ? c + 1 : 0;
  }
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E) || (c >= 0x4C1 && c <= 0x4CE)) {
    return (c % 2 == 1) ? c + 1 : 0;
  }
  if (c == 0x130) return 'i';
  if (c == 0x178) return 0xFF;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x531 && c <= 0x556) return c + 48;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  return 0;
}

char32_t UpperOf(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return 0;
  if (c == 0x1C5 || c == 0x1C8 || c == 0x1CB || c == 0x1F2) return c - 1;
  if (c == 0x1C6 || c == 0x1C9 || c == 0x1CC || c == 0x1F3) return c - 2;
  if (c == 0xB5) return 0x39C;
  if (c == 0xFF) return 0x178;
  if (c == 0x131) return 'I';
  if (c == 0x3C2) return 0x3A3;  // final sigma
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c >= 0x3B1 && c <= 0x3CB) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  if (c >= 0x561 && c <= 0x586) return c - 48;
  if (c >= 0xFF41 && c <= 0xFF5A) return c - 32;
  if (c > 0x100 && c < 0x1F00 && LowerOf(c - 1) == c) return c - 1;
  return 0;
}

}  // namespace

char32_t ToUpper(char32_t c) {
  char32_t u = UpperOf(c);
  return u ? u : c;
}
char32_t ToLower(char32_t c) {
  char32_t l = LowerOf(c);
  return l ? l : c;
}
char32_t ToTitle(char32_t c) {
  if (c >= 0x1C4 && c <= 0x1C6) return 0x1C5;
  if (c >= 0x1C7 && c <= 0x1C9) return 0x1C8;
  if (c >= 0x1CA && c <= 0x1CC) return 0x1CB;
  if (c >= 0x1F1 && c <= 0x1F3) return 0x1F2;
  return ToUpper(c);
}
bool IsUpper(char32_t c) {
  return LowerOf(c) != 0 && c != 0x1C5 && c != 0x1C8 && c != 0x1CB && c != 0x1F2;
}
bool IsLower(char32_t c) { return UpperOf(c) != 0 || c == 0xDF; }
bool IsAlpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (IsUpper(c) || IsLower(c) || c == 0xAA || c == 0xBA) return true;
  // Letters of scripts without case (CJK, kana, Hangul, Arabic, Hebrew, Indic, Thai).
  return (c >= 0x5D0 && c <= 0x5EA) || (c >= 0x620 && c <= 0x64A) || (c >= 0x904 && c <= 0x939) ||
         (c >= 0xE01 && c <= 0xE30) || (c >= 0x3041 && c <= 0x3096) ||
         (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xAC00 && c <= 0xD7A3);
}
bool IsDigit(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 0x660 && c <= 0x669) || (c >= 0x6F0 && c <= 0x6F9) ||
         (c >= 0x966 && c <= 0x96F) || (c >= 0xFF10 && c <= 0xFF19) || c == 0xB2 || c == 0xB3 ||
         c == 0xB9;
}

std::string Upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : Decode(s)) {
    if (c == 0xDF) {
      out += "SS";  // full case mapping of U+00DF
      continue;
    }
    AppendUtf8(out, ToUpper(c));
  }
  return out;
}

namespace {

bool IsCased(char32_t c) { return IsUpper(c) || IsLower(c); }

// Python's lower() of u[i], with the special cases of its full mapping: U+0130 and the final
// sigma (Σ at the end of a word lowers to ς).
void AppendLower(std::string& out, const std::u32string& u, size_t i) {
  const char32_t c = u[i];
  if (c == 0x130) {
    out += "i\xCC\x87";
    return;
  }
  if (c == 0x3A3) {
    const bool after_cased = i > 0 && IsCased(u[i - 1]);
    const bool before_cased = i + 1 < u.size() && IsCased(u[i + 1]);
    AppendUtf8(out, after_cased && !before_cased ? 0x3C2 : 0x3C3);
    return;
  }
  AppendUtf8(out, ToLower(c));
}

}  // namespace

std::string Lower(std::string_view s) {
  std::u32string u = Decode(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < u.size(); ++i) AppendLower(out, u, i);
  return out;
}

std::string SwapCase(std::string_view s) {
  std::string out;
  for (char32_t c : Decode(s)) AppendUtf8(out, IsUpper(c) ? ToLower(c) : ToUpper(c));
  return out;
}

std::string Capitalize(std::string_view s) {
  std::u32string u = Decode(s);
  std::string out;
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 0) {
      if (u[0] == 0xDF) {
        out += "Ss";
      } else {
        AppendUtf8(out, ToTitle(u[0]));
      }
    } else {
      AppendLower(out, u, i);
    }
  }
  return out;
}

std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  std::u32string u = Decode(s);
  std::u32string set = chars ? Decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : IsSpace(c);
  };
  size_t begin = 0, end = u.size();
  if (left) {
    while (begin < end && strip_it(u[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_it(u[end - 1])) --end;
  }
  return Encode(std::u32string_view(u).substr(begin, end - begin));
}

std::vector<std::string> Split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit, bool from_right) {
  std::vector<std::string> parts;
  if (maxsplit < 0) maxsplit = INT64_MAX;
  if (sep) {
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit-- > 0) {
        size_t hit = s.find(*sep, pos);
        if (hit == std::string_view::npos) break;
        parts.emplace_back(s.substr(pos, hit - pos));
        pos = hit + sep->size();
      }
      parts.emplace_back(s.substr(pos));
    } else {
      size_t end = s.size();
      while (maxsplit-- > 0 && end >= sep->size()) {
        size_t hit = s.rfind(*sep, end - sep->size());
        if (hit == std::string_view::npos) break;
        parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
        end = hit;
      }
      parts.emplace_back(s.substr(0, end));
      std::reverse(parts.begin(), parts.end());
    }
    return parts;
  }
  std::u32string u = Decode(s);
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < u.size() && IsSpace(u[i])) ++i;
      if (i == u.size()) break;
      if (maxsplit == 0) {
        size_t end = u.size();
        while (end > i && IsSpace(u[end - 1])) --end;
        parts.push_back(Encode(std::u32string_view(u).substr(i, end - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !IsSpace(u[j])) ++j;
      parts.push_back(Encode(std::u32string_view(u).substr(i, j - i)));
      --maxsplit;
      i = j;
    }
  } else {
    size_t i = u.size();
    while (true) {
      while (i > 0 && IsSpace(u[i - 1])) --i;
      if (i == 0) break;
      if (maxsplit == 0) {
        size_t begin = 0;
        while (begin < i && IsSpace(u[begin])) ++begin;
        parts.push_back(Encode(std::u32string_view(u).substr(begin, i - begin)));
        break;
      }
      size_t j = i;
      while (j > 0 && !IsSpace(u[j - 1])) --j;
      parts.push_back(Encode(std::u32string_view(u).substr(j, i - j)));
      --maxsplit;
      i = j;
    }
    std::reverse(parts.begin(), parts.end());
  }
  return parts;
}

std::vector<std::string> SplitLines(std::string_view s, bool keepends) {
  std::u32string u = Decode(s);
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < u.size()) {
    char32_t c = u[i];
    bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D ||
               c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) {
      ++i;
      continue;
    }
    size_t eol = i + ((c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ? 2 : 1);
    lines.push_back(Encode(std::u32string_view(u).substr(start, (keepends ? eol : i) - start)));
    start = i = eol;
  }
  if (start < u.size()) lines.push_back(Encode(std::u32string_view(u).substr(start)));
  return lines;
}

std::string Replace(std::string_view s, std::string_view old_sub, std::string_view new_sub,
                    int64_t count) {
  if (count < 0) count = INT64_MAX;
  std::string out;
  if (old_sub.empty()) {
    // Python inserts `new_sub` before every code point and at the end.
    std::u32string u = Decode(s);
    size_t i = 0;
    for (; i < u.size() && count > 0; ++i, --count) {
      out += new_sub;
      AppendUtf8(out, u[i]);
    }
    if (count > 0) {
      out += new_sub;
    }
    out += Encode(std::u32string_view(u).substr(i));
    return out;
  }
  size_t pos = 0;
  while (count-- > 0) {
    size_t hit = s.find(old_sub, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(new_sub);
    pos = hit + old_sub.size();
  }
  out.append(s.substr(pos));
  return out;
}

int64_t Count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(CodePointCount(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos;
       pos = s.find(sub, pos + sub.size())) {
    ++n;
  }
  return n;
}

int64_t Find(std::string_view s, std::string_view sub, bool from_right) {
  size_t hit = from_right ? s.rfind(sub) : s.find(sub);
  if (hit == std::string_view::npos) return -1;
  return static_cast<int64_t>(CodePointCount(s.substr(0, hit)));
}

}  // namespace mies::jinja::py
