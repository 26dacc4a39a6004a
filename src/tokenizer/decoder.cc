#include "tokenizer/decoder.h"

#include <optional>

#include "common/logging.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace mies::tokenizer {
namespace {

using nlohmann::json;

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (const auto& part : parts_) part->DecodeChain(tokens);
  }
  void TokenBytes(std::string& token) const override {
    for (const auto& part : parts_) part->TokenBytes(token);
  }
  bool StripsLeadingSpace() const override {
    for (const auto& part : parts_) {
      if (part->StripsLeadingSpace()) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

// Maps GPT-2 printable characters back to bytes; runs of ordinary tokens are decoded together
// (so multi-byte characters split across tokens come out whole), added tokens pass verbatim.
class ByteLevelDecoder final : public Decoder {
 public:
  explicit ByteLevelDecoder(std::shared_ptr<const absl::flat_hash_set<std::string>> added)
      : added_(std::move(added)) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    bool pending = false;
    auto flush = [&] {
      if (pending) out.push_back(DecodeUtf8Lossy(bytes));
      bytes.clear();
      pending = false;
    };
    for (std::string& token : tokens) {
      if (added_->contains(token)) {
        flush();
        out.push_back(std::move(token));
        continue;
      }
      pending = true;
      AppendBytes(token, &bytes);
    }
    flush();
    tokens = std::move(out);
  }
  void TokenBytes(std::string& token) const override {
    if (added_->contains(token)) return;
    std::string bytes;
    AppendBytes(token, &bytes);
    token = std::move(bytes);
  }

 private:
  static void AppendBytes(const std::string& token, std::string* bytes) {
    size_t i = 0;
    while (i < token.size()) {
      const size_t start = i;
      const int b = CodePointToByte(NextCodePoint(token, i));
      if (b >= 0) {
        bytes->push_back(static_cast<char>(b));
      } else {
        bytes->append(token, start, i - start);  // not from the byte alphabet: keep as is
      }
    }
  }

  std::shared_ptr<const absl::flat_hash_set<std::string>> added_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      std::string s;
      s.reserve(t.size());
      for (size_t pos = 0;;) {
        const size_t hit = t.find(replacement_, pos);
        s.append(t, pos, hit == std::string::npos ? std::string::npos : hit - pos);
        if (hit == std::string::npos) break;
        s.push_back(' ');
        pos = hit + replacement_.size();
      }
      if (i == 0 && strip_first_ && !s.empty() && s[0] == ' ') s.erase(0, 1);
      t = std::move(s);
    }
  }
  void TokenBytes(std::string& token) const override {
    std::vector<std::string> one{std::move(token)};
    MetaspaceDecoder(replacement_, false).DecodeChain(one);
    token = std::move(one[0]);
  }
  bool StripsLeadingSpace() const override { return strip_first_; }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string literal, std::optional<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      size_t last = 0;
      if (regex_) {
        const Status status = regex_->ForEachMatch(t, [&](size_t b, size_t e) {
          out.append(t, last, b - last);
          out += content_;
          last = e;
        });
        if (!status.ok()) {
          // Decoding has no error channel; a token the pattern cannot scan stays as it is.
          MIES_LOG_ERROR("tokenizer decoder Replace: {}", std::string(status.message()));
          continue;
        }
      } else if (!literal_.empty()) {
        for (size_t pos = t.find(literal_); pos != std::string::npos;
             pos = t.find(literal_, last)) {
          out.append(t, last, pos - last);
          out += content_;
          last = pos + literal_.size();
        }
      }
      if (last == 0 && out.empty()) continue;  // no match: keep the token
      out.append(t, last, std::string::npos);
      t = std::move(out);
    }
  }
  void TokenBytes(std::string& token) const override {
    std::vector<std::string> one{std::move(token)};
    DecodeChain(one);
    token = std::move(one[0]);
  }

 private:
  std::string literal_;
  std::optional<Regex> regex_;
  std::string content_;
};

// Runs of <0xXX> tokens become the text of their bytes (invalid sequences -> U+FFFD).
class ByteFallbackDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    for (std::string& t : tokens) {
      const int b = ParseByteToken(t);
      if (b >= 0) {
        bytes.push_back(static_cast<char>(b));
        continue;
      }
      if (!bytes.empty()) {
        out.push_back(DecodeUtf8Lossy(bytes));
        bytes.clear();
      }
      out.push_back(std::move(t));
    }
    if (!bytes.empty()) out.push_back(DecodeUtf8Lossy(bytes));
    tokens = std::move(out);
  }
  void TokenBytes(std::string& token) const override {
    const int b = ParseByteToken(token);
    if (b >= 0) token.assign(1, static_cast<char>(b));
  }

  static int ParseByteToken(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
  void TokenBytes(std::string&) const override {}
};

// Removes up to `start` leading and `stop` trailing copies of a one-character `content` from
// every token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, int start, int stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      size_t begin = 0;
      for (int i = 0; i < start_ && t.compare(begin, content_.size(), content_) == 0; ++i) {
        begin += content_.size();
      }
      size_t end = t.size();
      for (int i = 0; i < stop_ && end >= begin + content_.size() &&
                      t.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i) {
        end -= content_.size();
      }
      t = t.substr(begin, end - begin);
    }
  }
  // Strip follows Fuse in every known file, so it only cuts the ends of the whole text.
  void TokenBytes(std::string&) const override {}
  bool StripsLeadingSpace() const override { return content_ == " " && start_ > 0; }

 private:
  std::string content_;
  int start_, stop_;
};

}  // namespace

StatusOr<std::unique_ptr<Decoder>> MakeDecoder(
    const json& config, const std::string& where,
    std::shared_ptr<const absl::flat_hash_set<std::string>> added_tokens) {
  if (config.is_null()) return std::unique_ptr<Decoder>();
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    return InvalidArgument(where, " must be an object with a string \"type\"");
  }
  const std::string type = config["type"].get<std::string>();
  if (type == "Sequence") {
    if (!config.contains("decoders") || !config["decoders"].is_array()) {
      return InvalidArgument(where, " (Sequence) needs a \"decoders\" array");
    }
    std::vector<std::unique_ptr<Decoder>> parts;
    for (size_t i = 0; i < config["decoders"].size(); ++i) {
      MIES_ASSIGN_OR_RETURN(
          auto part, MakeDecoder(config["decoders"][i], absl::StrCat(where, ".decoders[", i, "]"),
                                 added_tokens));
      if (part) parts.push_back(std::move(part));
    }
    return std::unique_ptr<Decoder>(std::make_unique<SequenceDecoder>(std::move(parts)));
  }
  if (type == "ByteLevel") {
    return std::unique_ptr<Decoder>(std::make_unique<ByteLevelDecoder>(std::move(added_tokens)));
  }
  if (type == "Metaspace") {
    const std::string replacement = config.value("replacement", std::string("\xE2\x96\x81"));
    bool strip_first = true;
    if (config.contains("prepend_scheme") && config["prepend_scheme"].is_string()) {
      strip_first = config["prepend_scheme"].get<std::string>() != "never";
    } else if (config.contains("add_prefix_space") && config["add_prefix_space"].is_boolean()) {
      strip_first = config["add_prefix_space"].get<bool>();
    }
    if (replacement.empty()) return InvalidArgument(where, ".replacement must not be empty");
    return std::unique_ptr<Decoder>(std::make_unique<MetaspaceDecoder>(replacement, strip_first));
  }
  if (type == "Replace") {
    std::string literal;
    std::optional<Regex> regex;
    MIES_RETURN_IF_ERROR(ReadPattern(config.value("pattern", json()), where, &literal, &regex));
    const json content = config.value("content", json(""));
    if (!content.is_string()) return InvalidArgument(where, ".content must be a string");
    return std::unique_ptr<Decoder>(
        std::make_unique<ReplaceDecoder>(literal, std::move(regex), content.get<std::string>()));
  }
  if (type == "ByteFallback")
    return std::unique_ptr<Decoder>(std::make_unique<ByteFallbackDecoder>());
  if (type == "Fuse") return std::unique_ptr<Decoder>(std::make_unique<FuseDecoder>());
  if (type == "Strip") {
    const std::string content = config.value("content", std::string(" "));
    size_t i = 0;
    if (content.empty() || FindInvalidUtf8(content) != std::string::npos ||
        (NextCodePoint(content, i), i != content.size())) {
      return InvalidArgument(where, ".content must be one character");
    }
    const int start = config.value("start", 0), stop = config.value("stop", 0);
    if (start < 0 || stop < 0) return InvalidArgument(where, ".start and .stop must be >= 0");
    return std::unique_ptr<Decoder>(std::make_unique<StripDecoder>(content, start, stop));
  }
  return InvalidArgument(where, ": decoder type \"", type,
                         "\" is not supported (supported: Sequence, ByteLevel, Metaspace, Replace, "
                         "ByteFallback, Fuse, Strip)");
}

}  // namespace mies::tokenizer
