// Decoders of tokenizer.json ("decoder" field): token strings -> text. Like the reference, a
// decoder maps a list of strings to a list of strings and the last result is concatenated.
// Supported: Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "common/status.h"

namespace mies::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void DecodeChain(std::vector<std::string>& tokens) const = 0;
  // What one token adds in the middle of a text, with byte tokens left as raw bytes (no UTF-8
  // repair): Strip and Metaspace's first-token rule only touch the start of a text.
  virtual void TokenBytes(std::string& token) const = 0;
  // Whether decoding drops one leading space of the text.
  virtual bool StripsLeadingSpace() const { return false; }
};

// `added_tokens` holds the contents of all added tokens: the ByteLevel decoder passes them
// through verbatim instead of mapping their characters back to bytes.
StatusOr<std::unique_ptr<Decoder>> MakeDecoder(
    const nlohmann::json& config, const std::string& where,
    std::shared_ptr<const absl::flat_hash_set<std::string>> added_tokens);

}  // namespace mies::tokenizer
