// Python str semantics on UTF-8 text: code-point indexing, whitespace, case mapping, strip,
// split. Chat templates call these on message content, so they must agree with CPython.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mies::jinja::py {

// Invalid UTF-8 bytes decode to U+FFFD (input from JSON is always valid).
std::u32string Decode(std::string_view s);
std::string Encode(std::u32string_view s);
void AppendUtf8(std::string& out, char32_t c);
size_t CodePointCount(std::string_view s);

// str.isspace() for one code point.
bool IsSpace(char32_t c);
// str.isprintable() for one code point (approximation of the Unicode tables: control, format,
// separator and private-use ranges are non-printable).
bool IsPrintable(char32_t c);
char32_t ToUpper(char32_t c);
char32_t ToLower(char32_t c);
char32_t ToTitle(char32_t c);  // titlecase differs from uppercase only for the Latin digraphs
bool IsUpper(char32_t c);
bool IsLower(char32_t c);
bool IsAlpha(char32_t c);
bool IsDigit(char32_t c);

std::string Upper(std::string_view s);
std::string Lower(std::string_view s);
std::string Capitalize(std::string_view s);  // str.capitalize()
std::string SwapCase(std::string_view s);

// str.strip/lstrip/rstrip; `chars` unset strips whitespace.
std::string Strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right);
// str.split(sep, maxsplit) / str.rsplit; `sep` unset splits on runs of whitespace.
std::vector<std::string> Split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit, bool from_right = false);
std::vector<std::string> SplitLines(std::string_view s, bool keepends);
std::string Replace(std::string_view s, std::string_view old_sub, std::string_view new_sub,
                    int64_t count);
// str.count / str.find with Python's empty-substring rules; positions are code points.
int64_t Count(std::string_view s, std::string_view sub);
int64_t Find(std::string_view s, std::string_view sub, bool from_right);

}  // namespace mies::jinja::py
