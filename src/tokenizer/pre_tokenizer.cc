#include "tokenizer/pre_tokenizer.h"

#include <array>
#include <optional>
#include <utility>

#include "tokenizer/normalizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace mies::tokenizer {
namespace {

using nlohmann::json;

struct ByteTables {
  std::array<uint32_t, 256> to_cp{};
  std::array<std::string, 256> to_utf8;
  ByteTables() {
    // GPT-2: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards in order.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      to_cp[b] = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      AppendCodePoint(to_cp[b], &to_utf8[b]);
    }
  }
};

const ByteTables& Tables() {
  static const ByteTables tables;
  return tables;
}

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct Segment {
  size_t begin, end;
  bool delimiter;
};

// Splits `text` into segments given the delimiter matches, following Hugging Face's
// SplitDelimiterBehavior (tokenizers/src/tokenizer/normalizer.rs).
std::vector<Segment> ApplyBehavior(std::string_view text,
                                   const std::vector<std::pair<size_t, size_t>>& matches,
                                   bool invert, SplitBehavior behavior) {
  std::vector<Segment> all;
  size_t last = 0;
  for (const auto& [b, e] : matches) {
    if (b > last) all.push_back({last, b, invert});
    all.push_back({b, e, !invert});
    last = e;
  }
  if (last < text.size()) all.push_back({last, text.size(), invert});

  std::vector<Segment> out;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& s : all) {
        if (!s.delimiter) out.push_back(s);
      }
      break;
    case SplitBehavior::kIsolated:
      out = all;
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_delimiter = false;
      for (const auto& s : all) {
        if (s.delimiter && !previous_delimiter && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_delimiter = s.delimiter;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_delimiter = false;
      for (auto it = all.rbegin(); it != all.rend(); ++it) {
        if (it->delimiter && !previous_delimiter && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back(*it);
        }
        previous_delimiter = it->delimiter;
      }
      std::reverse(out.begin(), out.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_delimiter = false;
      for (const auto& s : all) {
        if (!out.empty() && s.delimiter == previous_delimiter) {
          out.back().end = s.end;
        } else {
          out.push_back(s);
        }
        previous_delimiter = s.delimiter;
      }
      break;
    }
  }
  return out;
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  Status PreTokenize(std::vector<std::string>& words, int section_index) const override {
    for (const auto& part : parts_) MIES_RETURN_IF_ERROR(part->PreTokenize(words, section_index));
    return OkStatus();
  }
  bool IsByteLevel() const override {
    for (const auto& part : parts_) {
      if (part->IsByteLevel()) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::string literal, std::optional<Regex> regex, bool invert,
                    SplitBehavior behavior)
      : literal_(std::move(literal)),
        regex_(std::move(regex)),
        invert_(invert),
        behavior_(behavior) {}

  Status PreTokenize(std::vector<std::string>& words, int /*section_index*/) const override {
    std::vector<std::string> out;
    out.reserve(words.size() * 4);
    std::vector<std::pair<size_t, size_t>> matches;
    for (const std::string& word : words) {
      matches.clear();
      if (regex_) {
        MIES_RETURN_IF_ERROR(
            regex_->ForEachMatch(word, [&](size_t b, size_t e) { matches.emplace_back(b, e); }));
      } else if (!literal_.empty()) {
        for (size_t pos = word.find(literal_); pos != std::string::npos;
             pos = word.find(literal_, pos + literal_.size())) {
          matches.emplace_back(pos, pos + literal_.size());
        }
      }
      for (const Segment& s : ApplyBehavior(word, matches, invert_, behavior_)) {
        if (s.end > s.begin) out.emplace_back(word, s.begin, s.end - s.begin);
      }
    }
    words = std::move(out);
    return OkStatus();
  }

 private:
  std::string literal_;
  std::optional<Regex> regex_;
  bool invert_;
  SplitBehavior behavior_;
};

constexpr std::string_view kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}

  Status PreTokenize(std::vector<std::string>& words, int /*section_index*/) const override {
    const ByteTables& t = Tables();
    std::vector<std::string> out;
    out.reserve(words.size());
    auto map_bytes = [&](std::string_view piece) {
      std::string mapped;
      mapped.reserve(piece.size() * 2);
      for (const char c : piece) mapped += t.to_utf8[static_cast<unsigned char>(c)];
      out.push_back(std::move(mapped));
    };
    for (std::string& word : words) {
      if (add_prefix_space_ && (word.empty() || word[0] != ' ')) word.insert(word.begin(), ' ');
      if (regex_) {
        const std::string_view view(word);
        MIES_RETURN_IF_ERROR(regex_->ForEachMatch(
            view, [&](size_t b, size_t e) { map_bytes(view.substr(b, e - b)); }));
      } else {
        map_bytes(word);
      }
    }
    words = std::move(out);
    return OkStatus();
  }
  bool IsByteLevel() const override { return true; }

 private:
  bool add_prefix_space_;
  std::optional<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}

  Status PreTokenize(std::vector<std::string>& words, int section_index) const override {
    std::vector<std::string> out;
    for (const std::string& word : words) {
      std::string s;
      s.reserve(word.size() + replacement_.size());
      for (const char c : word) {
        if (c == ' ') {
          s += replacement_;
        } else {
          s.push_back(c);
        }
      }
      const bool prepend = scheme_ == PrependScheme::kAlways ||
                           (scheme_ == PrependScheme::kFirst && section_index == 0);
      if (prepend && s.compare(0, replacement_.size(), replacement_) != 0)
        s.insert(0, replacement_);
      if (!split_) {
        out.push_back(std::move(s));
        continue;
      }
      // Each word starts at a replacement character (MergedWithNext).
      size_t start = 0;
      for (size_t pos = s.find(replacement_, 1); pos != std::string::npos;
           pos = s.find(replacement_, pos + replacement_.size())) {
        if (pos > start) out.push_back(s.substr(start, pos - start));
        start = pos;
      }
      if (start < s.size()) out.push_back(s.substr(start));
    }
    words = std::move(out);
    return OkStatus();
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

StatusOr<SplitBehavior> ParseBehavior(const json& config, const std::string& where) {
  const std::string b = config.value("behavior", std::string("Isolated"));
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  return InvalidArgument(where, ".behavior \"", b, "\" is not a Split behaviour");
}

}  // namespace

uint32_t ByteToCodePoint(uint8_t byte) { return Tables().to_cp[byte]; }

int CodePointToByte(uint32_t cp) {
  static const std::array<int, 324> table = [] {
    std::array<int, 324> t{};
    t.fill(-1);
    for (int b = 0; b < 256; ++b) t[Tables().to_cp[b]] = b;
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

StatusOr<std::unique_ptr<PreTokenizer>> MakePreTokenizer(const json& config,
                                                         const std::string& where) {
  if (config.is_null()) return std::unique_ptr<PreTokenizer>();
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    return InvalidArgument(where, " must be an object with a string \"type\"");
  }
  const std::string type = config["type"].get<std::string>();
  if (type == "Sequence") {
    if (!config.contains("pretokenizers") || !config["pretokenizers"].is_array()) {
      return InvalidArgument(where, " (Sequence) needs a \"pretokenizers\" array");
    }
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < config["pretokenizers"].size(); ++i) {
      MIES_ASSIGN_OR_RETURN(auto part,
                            MakePreTokenizer(config["pretokenizers"][i],
                                             absl::StrCat(where, ".pretokenizers[", i, "]")));
      if (part) parts.push_back(std::move(part));
    }
    return std::unique_ptr<PreTokenizer>(std::make_unique<SequencePreTokenizer>(std::move(parts)));
  }
  if (type == "Split") {
    std::string literal;
    std::optional<Regex> regex;
    MIES_RETURN_IF_ERROR(ReadPattern(config.value("pattern", json()), where, &literal, &regex));
    MIES_ASSIGN_OR_RETURN(SplitBehavior behavior, ParseBehavior(config, where));
    return std::unique_ptr<PreTokenizer>(std::make_unique<SplitPreTokenizer>(
        literal, std::move(regex), config.value("invert", false), behavior));
  }
  if (type == "ByteLevel") {
    std::optional<Regex> regex;
    if (config.value("use_regex", true)) {
      MIES_ASSIGN_OR_RETURN(Regex r, Regex::Compile(kGpt2Pattern));
      regex = std::move(r);
    }
    return std::unique_ptr<PreTokenizer>(std::make_unique<ByteLevelPreTokenizer>(
        config.value("add_prefix_space", false), std::move(regex)));
  }
  if (type == "Metaspace") {
    const std::string replacement = config.value("replacement", std::string("\xE2\x96\x81"));
    PrependScheme scheme = PrependScheme::kAlways;
    if (config.contains("prepend_scheme")) {
      const std::string s = config["prepend_scheme"].get<std::string>();
      if (s == "always") {
        scheme = PrependScheme::kAlways;
      } else if (s == "first") {
        scheme = PrependScheme::kFirst;
      } else if (s == "never") {
        scheme = PrependScheme::kNever;
      } else {
        return InvalidArgument(where, ".prepend_scheme \"", s, "\" is not always/first/never");
      }
    } else if (config.contains("add_prefix_space")) {
      scheme =
          config["add_prefix_space"].get<bool>() ? PrependScheme::kAlways : PrependScheme::kNever;
    }
    if (replacement.empty()) return InvalidArgument(where, ".replacement must not be empty");
    return std::unique_ptr<PreTokenizer>(
        std::make_unique<MetaspacePreTokenizer>(replacement, scheme, config.value("split", true)));
  }
  return InvalidArgument(where, ": pre_tokenizer type \"", type,
                         "\" is not supported (supported: Sequence, Split, ByteLevel, Metaspace)");
}

}  // namespace mies::tokenizer
