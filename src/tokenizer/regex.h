// PCRE2 (UTF + UCP, JIT) wrapper for the pre-tokenizer and normalizer patterns of
// tokenizer.json. Hugging Face writes these for Oniguruma; the reference tokenizer rewrites
// them so that `\s` is Unicode White_Space and `(?i:...)` folds ASCII letters only. We apply the
// same two rewrites, because PCRE2's UCP `\s` omits U+0085 and its caseless mode also matches
// e.g. U+017F for "s".
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mies::tokenizer {

class Regex {
 public:
  // Compiles an Oniguruma-style pattern; an error names the pattern and PCRE2's message.
  static StatusOr<Regex> Compile(std::string_view pattern);

  // Calls on_match(begin, end) for each successive non-overlapping match in `subject` (valid
  // UTF-8), left to right; an empty match advances by one code point. Thread-safe. An error
  // (a PCRE2 resource limit on pathological input) names the pattern: callers must not go on
  // with a partial split, which would silently give different ids.
  Status ForEachMatch(std::string_view subject,
                      const std::function<void(size_t, size_t)>& on_match) const;

  const std::string& pattern() const { return pattern_; }

  // Exposed for tests: the PCRE2 pattern actually compiled.
  static StatusOr<std::string> RewriteForPcre2(std::string_view pattern);

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string pattern_;
};

}  // namespace mies::tokenizer
