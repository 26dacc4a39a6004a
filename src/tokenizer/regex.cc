#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <vector>

#include "tokenizer/utf8.h"

namespace mies::tokenizer {

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Unicode White_Space (what Oniguruma's \s means in Unicode mode).
constexpr std::string_view kWhiteSpaceMembers =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

StatusOr<std::string> Regex::RewriteForPcre2(std::string_view p) {
  const std::string ps(p);  // for messages (absl::StrCat takes no std::string_view here)
  std::string out;
  out.reserve(p.size() * 2);
  bool in_class = false;
  // Parenthesis depth of each open (?i: group; letters inside them fold ASCII case only.
  std::vector<int> caseless_depths;
  int depth = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return InvalidArgument("regex '", ps, "': trailing backslash");
      const char e = p[i + 1];
      if (e == 's' || e == 'S') {
        if (in_class && e == 'S') {
          return InvalidArgument("regex '", ps, "': \\S inside a character class is not supported");
        }
        if (in_class) {
          out += kWhiteSpaceMembers;
        } else {
          out += e == 's' ? "[" : "[^";
          out += kWhiteSpaceMembers;
          out += "]";
        }
        ++i;
        continue;
      }
      if ((e == 'p' || e == 'P' || e == 'x') && i + 2 < p.size() && p[i + 2] == '{') {
        const size_t close = p.find('}', i + 2);
        if (close == std::string_view::npos) {
          return InvalidArgument("regex '", ps, "': unterminated \\", std::string(1, e), "{");
        }
        out.append(p.substr(i, close - i + 1));
        i = close;
        continue;
      }
      out.push_back(c);
      out.push_back(e);
      ++i;
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      if (!caseless_depths.empty() && IsAsciiLetter(c)) {
        return InvalidArgument("regex '", ps,
                               "': letters in a character class inside (?i:...) are not supported");
      }
      out.push_back(c);
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < p.size() && p[i + 1] == '^') out.push_back(p[++i]);
      if (i + 1 < p.size() && p[i + 1] == ']') out.push_back(p[++i]);
      continue;
    }
    if (c == '(') {
      ++depth;
      if (p.substr(i, 4) == "(?i:") {
        caseless_depths.push_back(depth);
        out += "(?:";
        i += 3;
        continue;
      }
      if (p.substr(i, 3) == "(?i" || p.substr(i, 4) == "(?-i") {
        return InvalidArgument("regex '", ps,
                               "': inline flag groups other than (?i:...) are not supported");
      }
      out.push_back(c);
      continue;
    }
    if (c == ')') {
      if (!caseless_depths.empty() && caseless_depths.back() == depth) caseless_depths.pop_back();
      --depth;
      out.push_back(c);
      continue;
    }
    if (!caseless_depths.empty() && IsAsciiLetter(c)) {
      const char lower = static_cast<char>(c | 0x20);
      out.push_back('[');
      out.push_back(static_cast<char>(lower - 0x20));
      out.push_back(lower);
      out.push_back(']');
      continue;
    }
    out.push_back(c);
  }
  if (in_class) return InvalidArgument("regex '", ps, "': unterminated character class");
  return out;
}

StatusOr<Regex> Regex::Compile(std::string_view pattern) {
  MIES_ASSIGN_OR_RETURN(std::string rewritten, RewriteForPcre2(pattern));
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return InvalidArgument("regex '", std::string(pattern),
                           "' does not compile with PCRE2 at offset ", error_offset, ": ",
                           reinterpret_cast<const char*>(message));
  }
  // JIT is an optimisation: when it is unavailable the interpreter gives the same matches.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  Regex regex;
  auto holder = std::make_shared<Code>();
  holder->code = code;
  regex.code_ = std::move(holder);
  regex.pattern_ = std::string(pattern);
  return regex;
}

Status Regex::ForEachMatch(std::string_view subject,
                           const std::function<void(size_t, size_t)>& on_match) const {
  // Per-thread match data and a JIT stack larger than PCRE2's 32 KiB default, so that long
  // runs of one character class cannot exhaust it.
  struct MatchData {
    pcre2_match_data* data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* stack = nullptr;
    MatchData() {
      data = pcre2_match_data_create(32, nullptr);
      context = pcre2_match_context_create(nullptr);
      stack = pcre2_jit_stack_create(64 << 10, 8 << 20, nullptr);
      if (context != nullptr && stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~MatchData() {
      pcre2_match_data_free(data);
      pcre2_match_context_free(context);
      pcre2_jit_stack_free(stack);
    }
  };
  thread_local MatchData md;
  if (md.data == nullptr) return Internal("PCRE2 could not allocate match data");
  const auto* base = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t offset = 0;
  while (offset <= subject.size()) {
    // Subjects are validated once by the caller; re-validating per call would be O(n^2).
    const int rc = pcre2_match(code_->code, base, subject.size(), offset, PCRE2_NO_UTF_CHECK,
                               md.data, md.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      return Internal("regex '", pattern_, "' failed at byte ", offset, " of a ", subject.size(),
                      "-byte text: ", reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.data);
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {
      if (begin >= subject.size()) break;
      offset = begin + SequenceLength(static_cast<unsigned char>(subject[begin]));
      continue;  // empty matches split nothing
    }
    on_match(begin, end);
    offset = end;
  }
  return OkStatus();
}

}  // namespace mies::tokenizer
