#include "jinja/lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "jinja/py_string.h"

namespace mies::jinja {
namespace {

// jinja2 normalises every newline to "\n" and drops one trailing newline before lexing.
std::string NormalizeSource(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int CountNewlines(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

bool AllSpace(std::string_view s) {
  if (s.empty()) return false;  // jinja matches \s+, so nothing to strip
  for (char32_t c : py::Decode(s)) {
    if (!py::IsSpace(c)) return false;
  }
  return true;
}

// Python's str.rstrip() on the text before a "{%-" tag.
std::string RStrip(std::string_view s) { return py::Strip(s, std::nullopt, false, true); }

// Index just past the whitespace starting at `pos` (regex \s*).
size_t SkipSpace(const std::string& s, size_t pos) {
  while (pos < s.size()) {
    const auto c = static_cast<unsigned char>(s[pos]);
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) {
      ++pos;
      continue;
    }
    // Non-ASCII whitespace (NBSP, U+2000.., U+3000) counts for \s as well.
    if (c >= 0x80) {
      size_t len = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : 2;
      std::u32string cp = py::Decode(std::string_view(s).substr(pos, len));
      if (cp.size() == 1 && py::IsSpace(cp[0])) {
        pos += len;
        continue;
      }
    }
    break;
  }
  return pos;
}

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decodes a Python string literal body (between the quotes) with the escapes Python's
// unicode-escape codec knows; unknown escapes stay as written, as in Python.
Status DecodeStringLiteral(std::string_view body, int line, std::string* out) {
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out->push_back(c);
      continue;
    }
    char e = body[++i];
    switch (e) {
      case '\n':
        break;  // line continuation
      case '\\':
        out->push_back('\\');
        break;
      case '\'':
        out->push_back('\'');
        break;
      case '"':
        out->push_back('"');
        break;
      case 'a':
        out->push_back('\a');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'v':
        out->push_back('\v');
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t len = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
        if (i + len >= body.size()) {
          return InvalidArgument("template line ", line, ": truncated \\", std::string(1, e),
                                 " escape in string literal");
        }
        std::string hex(body.substr(i + 1, len));
        for (char h : hex) {
          if (!std::isxdigit(static_cast<unsigned char>(h))) {
            return InvalidArgument("template line ", line, ": truncated \\", std::string(1, e),
                                   " escape in string literal");
          }
        }
        auto cp = static_cast<char32_t>(std::strtoul(hex.c_str(), nullptr, 16));
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          return InvalidArgument("template line ", line,
                                 ": escape names no valid Unicode scalar value: \\",
                                 std::string(1, e), hex);
        }
        py::AppendUtf8(*out, cp);
        i += len;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          char32_t cp = e - '0';
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
               ++k) {
            cp = cp * 8 + (body[++i] - '0');
          }
          py::AppendUtf8(*out, cp);
        } else {
          out->push_back('\\');
          out->push_back(e);
        }
    }
  }
  return OkStatus();
}

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options)
      : src_(std::move(source)), options_(options) {}

  StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      size_t start = FindTagStart(pos_);
      if (start == std::string::npos) {
        EmitData(src_.substr(pos_));
        pos_ = src_.size();
        break;
      }
      const char kind = src_[start + 1];
      const char mod =
          (start + 2 < src_.size() && (src_[start + 2] == '-' || src_[start + 2] == '+'))
              ? src_[start + 2]
              : 0;
      std::string data = src_.substr(pos_, start - pos_);
      const int data_newlines = CountNewlines(data);
      if (mod == '-') {
        data = RStrip(data);
      } else if (mod != '+' && options_.lstrip_blocks && kind != '{') {
        size_t l_pos = data.rfind('\n');
        l_pos = (l_pos == std::string::npos) ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting_) && AllSpace(std::string_view(data).substr(l_pos))) {
          data.resize(l_pos);
        }
      }
      EmitData(data);
      line_ += data_newlines - CountNewlines(data);
      pos_ = start + 2 + (mod ? 1 : 0);

      if (kind == '#') {
        MIES_RETURN_IF_ERROR(LexComment());
      } else if (kind == '%' && IsRawBegin()) {
        MIES_RETURN_IF_ERROR(LexRaw());
      } else {
        MIES_RETURN_IF_ERROR(LexTag(kind == '{'));
      }
    }
    tokens_.push_back(Token{TokenKind::kEof, "", line_});
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t from) const {
    for (size_t p = src_.find('{', from); p != std::string::npos; p = src_.find('{', p + 1)) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) {
        return p;
      }
    }
    return std::string::npos;
  }

  void EmitData(const std::string& data) {
    if (data.empty()) return;
    if (!tokens_.empty() && tokens_.back().kind == TokenKind::kData) {
      tokens_.back().text += data;
    } else {
      tokens_.push_back(Token{TokenKind::kData, data, line_});
    }
    line_ += CountNewlines(data);
  }

  // Handles what follows a closing delimiter: "-" strips all whitespace, "+" keeps it, and
  // trim_blocks removes one newline after block and comment tags. `end` is the index of the
  // closing delimiter (2 chars) and `mod` the character before it ('-', '+' or other).
  void FinishTag(size_t end, char mod, bool is_block_or_comment) {
    pos_ = end + 2;
    if (mod == '-') {
      size_t after = SkipSpace(src_, pos_);
      line_ += CountNewlines(std::string_view(src_).substr(pos_, after - pos_));
      line_starting_ = after > pos_ && src_[after - 1] == '\n';
      pos_ = after;
      return;
    }
    line_starting_ = false;
    if (mod != '+' && is_block_or_comment && options_.trim_blocks && pos_ < src_.size() &&
        src_[pos_] == '\n') {
      ++pos_;
      ++line_;
      line_starting_ = true;
    }
  }

  Status LexComment() {
    const int begin_line = line_;
    size_t end = src_.find("#}", pos_);
    if (end == std::string::npos) {
      return InvalidArgument("template line ", begin_line, ": missing end of comment tag '#}'");
    }
    line_ += CountNewlines(std::string_view(src_).substr(pos_, end - pos_));
    char mod = (end > pos_ && (src_[end - 1] == '-' || src_[end - 1] == '+')) ? src_[end - 1] : 0;
    FinishTag(end, mod, true);
    return OkStatus();
  }

  // "{% raw %}" possibly with whitespace control on either side.
  bool IsRawBegin() {
    size_t p = SkipSpace(src_, pos_);
    if (src_.compare(p, 3, "raw") != 0) return false;
    p = SkipSpace(src_, p + 3);
    if (p < src_.size() && src_[p] == '-') ++p;
    return src_.compare(p, 2, "%}") == 0;
  }

  Status LexRaw() {
    const int begin_line = line_;
    size_t p = SkipSpace(src_, pos_) + 3;
    p = SkipSpace(src_, p);
    char mod = src_[p] == '-' ? '-' : 0;
    if (mod) ++p;
    // jinja does not apply trim_blocks to the "{% raw %}" tag itself, only "-" stripping.
    pos_ = p + 2;
    if (mod == '-') pos_ = SkipSpace(src_, pos_);
    // Find "{%[-+]? endraw [-+]?%}".
    for (size_t q = src_.find("{%", pos_); q != std::string::npos; q = src_.find("{%", q + 1)) {
      size_t r = q + 2;
      char open_mod = 0;
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) open_mod = src_[r++];
      r = SkipSpace(src_, r);
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r = SkipSpace(src_, r + 6);
      char close_mod = 0;
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) close_mod = src_[r++];
      if (src_.compare(r, 2, "%}") != 0) continue;
      std::string body = src_.substr(pos_, q - pos_);
      const int body_newlines = CountNewlines(body);
      if (open_mod == '-') {
        body = RStrip(body);
      } else if (open_mod != '+' && options_.lstrip_blocks) {
        size_t l_pos = body.rfind('\n');
        l_pos = (l_pos == std::string::npos) ? 0 : l_pos + 1;
        if (AllSpace(std::string_view(body).substr(l_pos)) && l_pos > 0) body.resize(l_pos);
      }
      EmitData(body);
      line_ += body_newlines - CountNewlines(body);
      line_ += CountNewlines(std::string_view(src_).substr(q, r - q));
      FinishTag(r, close_mod, true);
      return OkStatus();
    }
    return InvalidArgument("template line ", begin_line, ": missing end of raw directive");
  }

  Status LexTag(bool is_variable) {
    const int begin_line = line_;
    tokens_.push_back(
        Token{is_variable ? TokenKind::kVariableBegin : TokenKind::kBlockBegin, "", line_});
    const char close = is_variable ? '}' : '%';
    int depth = 0;  // open ( [ { : a closing delimiter inside them is an operator
    while (true) {
      size_t after = SkipSpace(src_, pos_);
      line_ += CountNewlines(std::string_view(src_).substr(pos_, after - pos_));
      pos_ = after;
      if (pos_ >= src_.size()) {
        return InvalidArgument("template line ", begin_line, ": unexpected end of template, tag '",
                               is_variable ? "{{" : "{%", "' is not closed");
      }
      if (depth == 0) {
        char mod = 0;
        size_t p = pos_;
        if (src_[p] == '-' || (src_[p] == '+' && !is_variable)) mod = src_[p++];
        if (p + 1 < src_.size() && src_[p] == close && src_[p + 1] == '}') {
          tokens_.push_back(
              Token{is_variable ? TokenKind::kVariableEnd : TokenKind::kBlockEnd, "", line_});
          FinishTag(p, mod, !is_variable);
          return OkStatus();
        }
      }
      const char c = src_[pos_];
      if (IsNameStart(c)) {
        size_t e = pos_;
        while (e < src_.size() && IsNameChar(src_[e])) ++e;
        tokens_.push_back(Token{TokenKind::kName, src_.substr(pos_, e - pos_), line_});
        pos_ = e;
      } else if (IsDigit(c)) {
        MIES_RETURN_IF_ERROR(LexNumber());
      } else if (c == '\'' || c == '"') {
        MIES_RETURN_IF_ERROR(LexString(c));
      } else {
        static const char* kOps2[] = {"//", "**", "==", "!=", ">=", "<="};
        std::string op;
        for (const char* o : kOps2) {
          if (src_.compare(pos_, 2, o) == 0) op = o;
        }
        if (op.empty()) {
          if (std::string_view("+-/*%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
            return InvalidArgument("template line ", line_, ": unexpected character '",
                                   std::string(1, c), "' in tag");
          }
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") ++depth;
        if (op == ")" || op == "]" || op == "}") {
          if (depth == 0) {
            return InvalidArgument("template line ", line_, ": unexpected '", op, "'");
          }
          --depth;
        }
        tokens_.push_back(Token{TokenKind::kOperator, op, line_});
        pos_ += op.size();
      }
    }
  }

  Status LexNumber() {
    auto digits = [&](size_t p) {
      // \d+(_\d+)*
      if (p >= src_.size() || !IsDigit(src_[p])) return p;
      while (p < src_.size() && (IsDigit(src_[p]) ||
                                 (src_[p] == '_' && p + 1 < src_.size() && IsDigit(src_[p + 1])))) {
        ++p;
      }
      return p;
    };
    size_t p = pos_;
    // 0x / 0o / 0b integers.
    if (src_[p] == '0' && p + 1 < src_.size() && std::strchr("xXoObB", src_[p + 1])) {
      int base = std::tolower(src_[p + 1]) == 'x' ? 16 : (std::tolower(src_[p + 1]) == 'o' ? 8 : 2);
      size_t e = p + 2;
      std::string clean;
      while (e < src_.size() &&
             (std::isxdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) {
        if (src_[e] != '_') clean.push_back(src_[e]);
        ++e;
      }
      Token t{TokenKind::kInt, src_.substr(p, e - p), line_};
      t.int_value = std::strtoll(clean.c_str(), nullptr, base);
      tokens_.push_back(t);
      pos_ = e;
      return OkStatus();
    }
    size_t e = digits(p);
    bool is_float = false;
    const bool after_dot = p > 0 && src_[p - 1] == '.';  // "x.0.1" is two attribute lookups
    if (!after_dot) {
      size_t q = e;
      if (q < src_.size() && src_[q] == '.' && q + 1 < src_.size() && IsDigit(src_[q + 1])) {
        q = digits(q + 1);
        is_float = true;
      }
      if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
        size_t r = q + 1;
        if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
        size_t r2 = digits(r);
        if (r2 > r) {
          q = r2;
          is_float = true;
        }
      }
      if (is_float) e = q;
    }
    std::string text = src_.substr(p, e - p);
    std::string clean;
    for (char ch : text) {
      if (ch != '_') clean.push_back(ch);
    }
    Token t{is_float ? TokenKind::kFloat : TokenKind::kInt, text, line_};
    if (is_float) {
      t.float_value = std::strtod(clean.c_str(), nullptr);
    } else {
      errno = 0;
      t.int_value = std::strtoll(clean.c_str(), nullptr, 10);
      if (errno == ERANGE) {
        return InvalidArgument("template line ", line_, ": integer literal ", text,
                               " is out of the supported 64-bit range");
      }
    }
    tokens_.push_back(t);
    pos_ = e;
    return OkStatus();
  }

  Status LexString(char quote) {
    size_t p = pos_ + 1;
    while (p < src_.size() && src_[p] != quote) {
      if (src_[p] == '\\') ++p;
      ++p;
    }
    if (p >= src_.size()) {
      return InvalidArgument("template line ", line_, ": unterminated string literal");
    }
    std::string_view body = std::string_view(src_).substr(pos_ + 1, p - pos_ - 1);
    Token t{TokenKind::kString, "", line_};
    MIES_RETURN_IF_ERROR(DecodeStringLiteral(body, line_, &t.text));
    tokens_.push_back(std::move(t));
    line_ += CountNewlines(body);
    pos_ = p + 1;
    return OkStatus();
  }

  std::string src_;
  LexerOptions options_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
};

}  // namespace

StatusOr<std::vector<Token>> Tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(NormalizeSource(source), options).Run();
}

}  // namespace mies::jinja
