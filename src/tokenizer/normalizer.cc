#include "tokenizer/normalizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <optional>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace mies::tokenizer {
namespace {

using nlohmann::json;

bool IsAscii(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  StatusOr<std::string> Normalize(std::string_view text) const override {
    std::string current(text);
    for (const auto& part : parts_) {
      MIES_ASSIGN_OR_RETURN(current, part->Normalize(current));
    }
    return current;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(const icu::Normalizer2* impl) : impl_(impl) {}
  StatusOr<std::string> Normalize(std::string_view text) const override {
    if (IsAscii(text)) return std::string(text);  // ASCII is invariant under every form
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString in = icu::UnicodeString::fromUTF8(
        icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
    const icu::UnicodeString out = impl_->normalize(in, status);
    if (U_FAILURE(status)) return std::string(text);  // cannot happen for valid UTF-8 input
    std::string result;
    out.toUTF8String(result);
    return result;
  }

 private:
  const icu::Normalizer2* impl_;  // owned by ICU (process-wide singleton)
};

// Literal-string or regex replacement of every match, left to right.
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::string literal, std::optional<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  StatusOr<std::string> Normalize(std::string_view text) const override {
    std::string out;
    out.reserve(text.size());
    if (regex_) {
      size_t last = 0;
      MIES_RETURN_IF_ERROR(regex_->ForEachMatch(text, [&](size_t b, size_t e) {
        out.append(text.substr(last, b - last));
        out += content_;
        last = e;
      }));
      out.append(text.substr(last));
      return out;
    }
    if (literal_.empty()) return std::string(text);
    size_t last = 0;
    for (size_t pos = text.find(literal_); pos != std::string_view::npos;
         pos = text.find(literal_, last)) {
      out.append(text.substr(last, pos - last));
      out += content_;
      last = pos + literal_.size();
    }
    out.append(text.substr(last));
    return out;
  }

 private:
  std::string literal_;
  std::optional<Regex> regex_;
  std::string content_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  StatusOr<std::string> Normalize(std::string_view text) const override {
    if (text.empty()) return std::string();
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  StatusOr<std::string> Normalize(std::string_view text) const override {
    icu::UnicodeString s = icu::UnicodeString::fromUTF8(
        icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
    s.toLower(icu::Locale::getRoot());  // full, locale-independent mapping like JS toLowerCase
    std::string out;
    s.toUTF8String(out);
    return out;
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  StatusOr<std::string> Normalize(std::string_view text) const override {
    if (left_) text = TrimJsWhitespaceLeft(text);
    if (right_) text = TrimJsWhitespaceRight(text);
    return std::string(text);
  }

 private:
  bool left_, right_;
};

// Removes combining marks (general category M), as the reference's /\p{M}/gu replacement.
class StripAccentsNormalizer final : public Normalizer {
 public:
  StatusOr<std::string> Normalize(std::string_view text) const override {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
      const size_t start = i;
      const uint32_t cp = NextCodePoint(text, i);
      if ((U_GET_GC_MASK(static_cast<UChar32>(cp)) & U_GC_M_MASK) != 0) continue;
      out.append(text.substr(start, i - start));
    }
    return out;
  }
};

StatusOr<std::unique_ptr<Normalizer>> MakeUnicode(const std::string& type) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* impl = nullptr;
  if (type == "NFC") impl = icu::Normalizer2::getNFCInstance(status);
  if (type == "NFD") impl = icu::Normalizer2::getNFDInstance(status);
  if (type == "NFKC") impl = icu::Normalizer2::getNFKCInstance(status);
  if (type == "NFKD") impl = icu::Normalizer2::getNFKDInstance(status);
  if (impl == nullptr || U_FAILURE(status)) {
    return Internal("ICU has no ", type, " normalizer: ", u_errorName(status));
  }
  return std::unique_ptr<Normalizer>(std::make_unique<UnicodeNormalizer>(impl));
}

}  // namespace

// Reads {"String": s} or {"Regex": r}; exactly one must be present.
Status ReadPattern(const json& pattern, const std::string& where, std::string* literal,
                   std::optional<Regex>* regex) {
  if (!pattern.is_object()) return InvalidArgument(where, ".pattern must be an object");
  if (pattern.contains("String") && pattern["String"].is_string()) {
    *literal = pattern["String"].get<std::string>();
    return OkStatus();
  }
  if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
    MIES_ASSIGN_OR_RETURN(Regex r, Regex::Compile(pattern["Regex"].get<std::string>()));
    *regex = std::move(r);
    return OkStatus();
  }
  return InvalidArgument(where, ".pattern must hold a \"String\" or a \"Regex\" string");
}

StatusOr<std::unique_ptr<Normalizer>> MakeNormalizer(const json& config, const std::string& where) {
  if (config.is_null()) return std::unique_ptr<Normalizer>();
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    return InvalidArgument(where, " must be an object with a string \"type\"");
  }
  const std::string type = config["type"].get<std::string>();
  if (type == "Sequence") {
    if (!config.contains("normalizers") || !config["normalizers"].is_array()) {
      return InvalidArgument(where, " (Sequence) needs a \"normalizers\" array");
    }
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < config["normalizers"].size(); ++i) {
      MIES_ASSIGN_OR_RETURN(
          auto part,
          MakeNormalizer(config["normalizers"][i], absl::StrCat(where, ".normalizers[", i, "]")));
      if (part) parts.push_back(std::move(part));
    }
    return std::unique_ptr<Normalizer>(std::make_unique<SequenceNormalizer>(std::move(parts)));
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return MakeUnicode(type);
  if (type == "Replace") {
    std::string literal;
    std::optional<Regex> regex;
    MIES_RETURN_IF_ERROR(ReadPattern(config.value("pattern", json()), where, &literal, &regex));
    const json content = config.value("content", json(""));
    if (!content.is_string()) return InvalidArgument(where, ".content must be a string");
    return std::unique_ptr<Normalizer>(
        std::make_unique<ReplaceNormalizer>(literal, std::move(regex), content.get<std::string>()));
  }
  if (type == "Prepend") {
    if (!config.contains("prepend") || !config["prepend"].is_string()) {
      return InvalidArgument(where, " (Prepend) needs a string \"prepend\"");
    }
    return std::unique_ptr<Normalizer>(
        std::make_unique<PrependNormalizer>(config["prepend"].get<std::string>()));
  }
  if (type == "Lowercase")
    return std::unique_ptr<Normalizer>(std::make_unique<LowercaseNormalizer>());
  if (type == "StripAccents") {
    return std::unique_ptr<Normalizer>(std::make_unique<StripAccentsNormalizer>());
  }
  if (type == "Strip") {
    return std::unique_ptr<Normalizer>(std::make_unique<StripNormalizer>(
        config.value("strip_left", false), config.value("strip_right", false)));
  }
  return InvalidArgument(where, ": normalizer type \"", type,
                         "\" is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Replace, "
                         "Prepend, Lowercase, Strip, StripAccents)");
}

}  // namespace mies::tokenizer
