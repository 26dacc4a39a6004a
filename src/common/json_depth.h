// A nesting limit for JSON files, checked on the text before parsing. nlohmann parses any
// depth without recursion, but copying, comparing and dump()ing a value recurse once per
// level: a 64 KB file of '[' overflows the stack in the first error message that prints it.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include "common/status.h"

namespace mies {

// Far deeper than any config.json, ranktable, tokenizer.json or safetensors header (< 10).
inline constexpr int kMaxJsonFileDepth = 64;

// The deepest '{' / '[' nesting outside strings (an upper bound when the text is not JSON).
inline int JsonTextDepth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

// InvalidArgument naming `what` when `text` nests deeper than `max_depth`.
inline Status CheckJsonTextDepth(std::string_view text, std::string_view what,
                                 int max_depth = kMaxJsonFileDepth) {
  const int depth = JsonTextDepth(text);
  if (depth <= max_depth) return OkStatus();
  return InvalidArgument(std::string(what), ": JSON nests ", depth, " levels deep (at most ",
                         max_depth, " allowed)");
}

}  // namespace mies
