// Normalizers of tokenizer.json ("normalizer" field): text -> text before pre-tokenization.
// Supported: Sequence, NFC, NFD, NFKC, NFKD (ICU), Replace (String or Regex pattern), Prepend,
// Lowercase, Strip, StripAccents. Any other type is a load error naming it.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "tokenizer/regex.h"

namespace mies::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8; so is the result. Fails only when a regex cannot run to the end.
  virtual StatusOr<std::string> Normalize(std::string_view text) const = 0;
};

// Builds the normalizer described by `config`; a JSON null gives nullptr (no normalizer).
// `where` names the position in the file for error messages, e.g. "normalizer".
StatusOr<std::unique_ptr<Normalizer>> MakeNormalizer(const nlohmann::json& config,
                                                     const std::string& where);

// Reads a tokenizer.json pattern, {"String": s} or {"Regex": r}, into `literal` or `regex`.
// Shared by the normalizers, pre-tokenizers and decoders.
Status ReadPattern(const nlohmann::json& pattern, const std::string& where, std::string* literal,
                   std::optional<Regex>* regex);

}  // namespace mies::tokenizer
