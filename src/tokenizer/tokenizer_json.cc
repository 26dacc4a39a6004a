#include "tokenizer/tokenizer_json.h"

#include "common/json_depth.h"

namespace mies::tokenizer {
namespace {

using nlohmann::json;

class Reader final : public nlohmann::json_sax<json> {
 public:
  Reader(json* root, BpeTables* tables) : dom_(*root, /*allow_exceptions=*/false), t_(tables) {}

  std::string error;

  bool null() override { return Scalar(&Dom::null); }
  bool boolean(bool v) override {
    if (mode_ != Mode::kDom) return Fail("model.vocab/merges hold a boolean");
    next_is_vocab_ = next_is_merges_ = false;
    return dom_.boolean(v);
  }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) return AddVocab(v);
    if (mode_ != Mode::kDom) return Fail("model.merges holds a number");
    next_is_vocab_ = next_is_merges_ = false;
    return dom_.number_integer(v);
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) {
      return AddVocab(v > static_cast<number_unsigned_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
    }
    if (mode_ != Mode::kDom) return Fail("model.merges holds a number");
    next_is_vocab_ = next_is_merges_ = false;
    return dom_.number_unsigned(v);
  }
  bool number_float(number_float_t v, const string_t& s) override {
    if (mode_ != Mode::kDom) return Fail(absl::StrCat("model.vocab/merges hold a non-integer ", s));
    next_is_vocab_ = next_is_merges_ = false;
    return dom_.number_float(v, s);
  }
  bool string(string_t& v) override {
    switch (mode_) {
      case Mode::kDom:
        next_is_vocab_ = next_is_merges_ = false;
        return dom_.string(v);
      case Mode::kVocab:
        return Fail(absl::StrCat("model.vocab[\"", key_, "\"] must be an integer id"));
      case Mode::kMerges:
        t_->merges.emplace_back(std::move(v), std::string());
        t_->merge_is_string.push_back(true);
        return true;
      case Mode::kMergePair:
        if (pair_size_ == 0) t_->merges.back().first = std::move(v);
        if (pair_size_ == 1) t_->merges.back().second = std::move(v);
        ++pair_size_;
        return true;
    }
    return false;
  }
  bool binary(binary_t& v) override {
    return mode_ == Mode::kDom ? dom_.binary(v) : Fail("binary");
  }

  bool start_object(std::size_t n) override {
    if (mode_ != Mode::kDom) return Fail("model.vocab/merges hold a nested object");
    ++depth_;
    if (next_is_vocab_) {
      next_is_vocab_ = false;
      mode_ = Mode::kVocab;
      t_->has_vocab = true;
      return true;
    }
    next_is_merges_ = false;
    if (depth_ == 2 && key_ == "model") model_depth_ = 2;
    return dom_.start_object(n);
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::kVocab) {
      key_ = std::move(k);
      return true;
    }
    if (mode_ != Mode::kDom) return Fail("model.merges holds an object");
    key_ = k;
    if (depth_ == model_depth_ && model_depth_ == 2) {
      next_is_vocab_ = k == "vocab";
      next_is_merges_ = k == "merges";
    }
    return dom_.key(k);
  }
  bool end_object() override {
    --depth_;
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kDom;
      return dom_.null();  // placeholder for model.vocab
    }
    if (depth_ < model_depth_) model_depth_ = -1;
    next_is_vocab_ = next_is_merges_ = false;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) override {
    ++depth_;
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_size_ = 0;
      t_->merges.emplace_back();
      t_->merge_is_string.push_back(false);
      return true;
    }
    if (mode_ != Mode::kDom) return Fail("model.merges entries must be strings or [a, b] pairs");
    if (next_is_merges_) {
      next_is_merges_ = false;
      mode_ = Mode::kMerges;
      t_->has_merges = true;
      if (n != static_cast<std::size_t>(-1)) t_->merges.reserve(n);
      return true;
    }
    next_is_vocab_ = false;
    return dom_.start_array(n);
  }
  bool end_array() override {
    --depth_;
    if (mode_ == Mode::kMergePair) {
      if (pair_size_ != 2) {
        return Fail(
            absl::StrCat("model.merges[", t_->merges.size() - 1, "] must be [\"a\", \"b\"]"));
      }
      mode_ = Mode::kMerges;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kDom;
      return dom_.null();  // placeholder for model.merges
    }
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex) override {
    if (error.empty()) error = absl::StrCat("not valid JSON at byte ", position, ": ", ex.what());
    (void)last_token;
    return false;
  }

 private:
  using Dom = nlohmann::detail::json_sax_dom_parser<json>;
  enum class Mode { kDom, kVocab, kMerges, kMergePair };

  bool Scalar(bool (Dom::*f)()) {
    if (mode_ != Mode::kDom) return Fail("model.vocab/merges hold a null");
    next_is_vocab_ = next_is_merges_ = false;
    return (dom_.*f)();
  }
  bool AddVocab(int64_t id) {
    t_->vocab.emplace_back(std::move(key_), id);
    key_.clear();
    return true;
  }
  bool Fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  Dom dom_;
  BpeTables* t_;
  Mode mode_ = Mode::kDom;
  int depth_ = 0;
  int model_depth_ = -1;  // depth of the "model" object while inside it
  bool next_is_vocab_ = false;
  bool next_is_merges_ = false;
  int pair_size_ = 0;
  std::string key_;
};

}  // namespace

StatusOr<json> ParseTokenizerJson(std::string_view text, BpeTables* tables) {
  MIES_RETURN_IF_ERROR(CheckJsonTextDepth(text, "tokenizer.json"));
  json root;
  Reader reader(&root, tables);
  const bool ok = json::sax_parse(text.begin(), text.end(), &reader);
  if (!ok || root.is_discarded()) {
    return InvalidArgument("tokenizer.json: ",
                           reader.error.empty() ? "not valid JSON" : reader.error);
  }
  if (!root.is_object()) return InvalidArgument("tokenizer.json must be a JSON object");
  return root;
}

}  // namespace mies::tokenizer
