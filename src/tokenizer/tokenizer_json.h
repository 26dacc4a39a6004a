// Fast reading of tokenizer.json: a SAX pass that builds the small parts as a JSON value but
// streams model.vocab and model.merges (hundreds of thousands of entries in real files) straight
// into flat vectors, skipping the per-entry JSON nodes. Halves the load time of big files.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mies::tokenizer {

struct BpeTables {
  bool has_vocab = false;   // model.vocab was an object
  bool has_merges = false;  // model.merges was an array
  std::vector<std::pair<std::string, int64_t>> vocab;
  // Each merge as its two parts; `merge_is_string[i]` says it was written "a b" (split later,
  // so that a malformed entry is reported with its index).
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<bool> merge_is_string;
};

// Parses `text`; the returned value has model.vocab and model.merges replaced by null, their
// contents being in `tables`. An error names what is wrong and where.
StatusOr<nlohmann::json> ParseTokenizerJson(std::string_view text, BpeTables* tables);

}  // namespace mies::tokenizer
