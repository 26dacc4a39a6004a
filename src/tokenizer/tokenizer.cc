#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "common/file_check.h"
#include "common/json_depth.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/utf8.h"

namespace mies::tokenizer {

using nlohmann::json;

namespace {

// One step of post-processing: the sequence's ids wrapped by special-token ids.
struct Template {
  std::vector<int> prefix;
  std::vector<int> suffix;
};

// The token text of a tokenizer_config.json entry: a string, {"content": ...}, or null.
std::optional<std::string> ConfigTokenText(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Decoder> decoder;
  std::vector<AddedToken> added;
  AddedTokenSplitter raw_splitter;         // tokens matched on the raw text
  AddedTokenSplitter normalized_splitter;  // tokens matched after normalization
  std::vector<Template> post;              // applied in order when add_special_tokens
  std::vector<bool> special;               // by id
  std::optional<int> bos, pad, unk;
  std::vector<int> eos;
  bool clean_up = true;

  Status LoadAddedTokens(const json& list);
  Status LoadPostProcessor(const json& config, const std::string& where);
  // A post-processor's id: a JSON integer naming a token of the vocabulary (Encode emits it).
  StatusOr<int> TokenId(const json& v, const std::string& where) const;
  Status ApplyConfig(const json& config, const json& generation);
  Status EncodeSection(std::string_view text, int section_index, std::vector<int>* ids) const;
};

Status Tokenizer::Impl::LoadAddedTokens(const json& list) {
  if (list.is_null()) return OkStatus();
  if (!list.is_array()) return InvalidArgument("added_tokens must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    const std::string where = absl::StrCat("added_tokens[", i, "]");
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        t["id"].get<int64_t>() < 0 || t["id"].get<int64_t>() > (int64_t{1} << 30) ||
        !t.contains("content") || !t["content"].is_string()) {
      return InvalidArgument(where,
                             " needs an integer \"id\" in [0, 2^30] and a string \"content\"");
    }
    AddedToken a;
    a.content = t["content"].get<std::string>();
    a.id = t["id"].get<int>();
    if (a.content.empty()) return InvalidArgument(where, ".content must not be empty");
    if (FindInvalidUtf8(a.content) != std::string::npos) {
      return InvalidArgument(where, ".content is not valid UTF-8");
    }
    a.special = t.value("special", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.single_word = t.value("single_word", false);
    // Reference default: special tokens are matched on raw text, others after normalization.
    a.normalized = t.contains("normalized") && t["normalized"].is_boolean()
                       ? t["normalized"].get<bool>()
                       : !a.special;
    added.push_back(std::move(a));
  }
  return OkStatus();
}

Status Tokenizer::Impl::LoadPostProcessor(const json& config, const std::string& where) {
  if (config.is_null()) return OkStatus();
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    return InvalidArgument(where, " must be an object with a string \"type\"");
  }
  const std::string type = config["type"].get<std::string>();
  if (type == "ByteLevel") return OkStatus();  // only adjusts offsets, never ids
  if (type == "Sequence") {
    if (!config.contains("processors") || !config["processors"].is_array()) {
      return InvalidArgument(where, " (Sequence) needs a \"processors\" array");
    }
    for (size_t i = 0; i < config["processors"].size(); ++i) {
      MIES_RETURN_IF_ERROR(
          LoadPostProcessor(config["processors"][i], absl::StrCat(where, ".processors[", i, "]")));
    }
    return OkStatus();
  }
  if (type == "TemplateProcessing") {
    if (!config.contains("single") || !config["single"].is_array()) {
      return InvalidArgument(where, " (TemplateProcessing) needs a \"single\" array");
    }
    const json specials = config.value("special_tokens", json::object());
    Template tpl;
    bool seen_sequence = false;
    for (size_t i = 0; i < config["single"].size(); ++i) {
      const json& item = config["single"][i];
      const std::string item_where = absl::StrCat(where, ".single[", i, "]");
      if (item.contains("Sequence")) {
        if (item["Sequence"].value("id", std::string()) != "A") {
          return InvalidArgument(item_where, ": a single-sequence template may only use \"A\"");
        }
        if (seen_sequence) return InvalidArgument(item_where, ": sequence \"A\" appears twice");
        seen_sequence = true;
        continue;
      }
      if (!item.contains("SpecialToken") || !item["SpecialToken"].contains("id") ||
          !item["SpecialToken"]["id"].is_string()) {
        return InvalidArgument(item_where, " must be a SpecialToken or a Sequence");
      }
      const std::string name = item["SpecialToken"]["id"].get<std::string>();
      std::vector<int> ids;
      if (specials.contains(name) && specials[name].contains("ids")) {
        const json& list = specials[name]["ids"];
        const std::string ids_where = absl::StrCat(where, ".special_tokens[\"", name, "\"].ids");
        if (!list.is_array()) return InvalidArgument(ids_where, " must be an array of token ids");
        for (size_t k = 0; k < list.size(); ++k) {
          MIES_ASSIGN_OR_RETURN(int id, TokenId(list[k], absl::StrCat(ids_where, "[", k, "]")));
          ids.push_back(id);
        }
      } else if (model->TokenToId(name) >= 0) {
        ids.push_back(model->TokenToId(name));
      } else {
        return InvalidArgument(item_where, ": special token \"", name,
                               "\" is neither in special_tokens nor in the vocabulary");
      }
      auto& side = seen_sequence ? tpl.suffix : tpl.prefix;
      side.insert(side.end(), ids.begin(), ids.end());
    }
    if (!seen_sequence) return InvalidArgument(where, ".single has no Sequence \"A\"");
    post.push_back(std::move(tpl));
    return OkStatus();
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // {"cls": ["<s>", 0], "sep": ["</s>", 2]}: cls A sep.
    for (const char* key : {"cls", "sep"}) {
      if (!config.contains(key) || !config[key].is_array() || config[key].size() != 2 ||
          !config[key][1].is_number_integer()) {
        return InvalidArgument(where, ".", key, " must be [token, id]");
      }
    }
    MIES_ASSIGN_OR_RETURN(int cls, TokenId(config["cls"][1], where + ".cls[1]"));
    MIES_ASSIGN_OR_RETURN(int sep, TokenId(config["sep"][1], where + ".sep[1]"));
    post.push_back(Template{{cls}, {sep}});
    return OkStatus();
  }
  return InvalidArgument(where, ": post_processor type \"", type,
                         "\" is not supported (supported: TemplateProcessing, ByteLevel, Sequence, "
                         "BertProcessing, RobertaProcessing)");
}

StatusOr<int> Tokenizer::Impl::TokenId(const json& v, const std::string& where) const {
  // Checked as int64 first: nlohmann's get<int>() of a float or a huge number would be
  // undefined behaviour or wrap.
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT32_MAX) ||
      v.get<int64_t>() < 0 || v.get<int64_t>() >= model->IdSpaceSize() ||
      model->IdToToken(static_cast<int>(v.get<int64_t>())) == nullptr) {
    return InvalidArgument(where, " = ", v.dump(), " is not the id of a token in the vocabulary (",
                           model->IdSpaceSize(), " ids)");
  }
  return static_cast<int>(v.get<int64_t>());
}

Status Tokenizer::Impl::ApplyConfig(const json& config, const json& generation) {
  auto lookup = [&](const char* key) -> StatusOr<std::optional<int>> {
    const std::optional<std::string> text = ConfigTokenText(config, key);
    if (!text) return std::optional<int>();
    const int id = model->TokenToId(*text);
    if (id < 0) {
      return InvalidArgument("tokenizer_config.json ", key, " \"", *text,
                             "\" is not in the vocabulary");
    }
    return std::optional<int>(id);
  };
  MIES_ASSIGN_OR_RETURN(bos, lookup("bos_token"));
  MIES_ASSIGN_OR_RETURN(pad, lookup("pad_token"));
  MIES_ASSIGN_OR_RETURN(std::optional<int> eos_token, lookup("eos_token"));
  if (eos_token) eos.push_back(*eos_token);
  if (generation.is_object() && generation.contains("eos_token_id")) {
    const json& e = generation["eos_token_id"];
    std::vector<int> extra;
    // An id beyond int's range cannot be a token (get<int>() would silently wrap it).
    auto add = [&](const json& v) -> Status {
      if (!v.is_number_integer() ||
          (v.is_number_unsigned() ? v.get<uint64_t>() > INT32_MAX
                                  : v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)) {
        return InvalidArgument("generation_config.json eos_token_id must hold token ids in [0, ",
                               INT32_MAX, "], got ", v.dump());
      }
      extra.push_back(static_cast<int>(v.get<int64_t>()));
      return OkStatus();
    };
    if (e.is_number_integer()) {
      MIES_RETURN_IF_ERROR(add(e));
    } else if (e.is_array()) {
      for (const json& v : e) MIES_RETURN_IF_ERROR(add(v));
    } else if (!e.is_null()) {
      return InvalidArgument("generation_config.json eos_token_id must be an integer or a list");
    }
    for (const int id : extra) {
      if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
    }
  }
  if (model->unk_id() >= 0) unk = model->unk_id();
  if (config.contains("clean_up_tokenization_spaces") &&
      config["clean_up_tokenization_spaces"].is_boolean()) {
    clean_up = config["clean_up_tokenization_spaces"].get<bool>();
  }

  // transformers' Llama/Gemma fast tokenizers rebuild the post-processor from add_bos_token /
  // add_eos_token (LlamaTokenizerFast.update_post_processor); honour that when the config says.
  const std::string cls = config.value("tokenizer_class", std::string());
  const bool llama_like = cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast" ||
                          cls == "CodeLlamaTokenizer" || cls == "CodeLlamaTokenizerFast" ||
                          cls == "GemmaTokenizer" || cls == "GemmaTokenizerFast";
  if (llama_like && (config.contains("add_bos_token") || config.contains("add_eos_token"))) {
    const bool add_bos = config.value("add_bos_token", true);
    const bool add_eos = config.value("add_eos_token", false);
    if (add_bos && !bos)
      return InvalidArgument("tokenizer_config.json add_bos_token needs bos_token");
    if (add_eos && !eos_token) {
      return InvalidArgument("tokenizer_config.json add_eos_token needs eos_token");
    }
    Template tpl;
    if (add_bos) tpl.prefix.push_back(*bos);
    if (add_eos) tpl.suffix.push_back(*eos_token);
    post.assign(1, std::move(tpl));
  }

  special.assign(static_cast<size_t>(model->IdSpaceSize()), false);
  absl::flat_hash_set<std::string> special_texts;
  for (const AddedToken& a : added) {
    if (a.special) special_texts.insert(a.content);
  }
  if (config.contains("additional_special_tokens") &&
      config["additional_special_tokens"].is_array()) {
    for (const json& t : config["additional_special_tokens"]) {
      if (t.is_string()) special_texts.insert(t.get<std::string>());
      if (t.is_object() && t.contains("content") && t["content"].is_string()) {
        special_texts.insert(t["content"].get<std::string>());
      }
    }
  }
  for (int id = 0; id < model->IdSpaceSize(); ++id) {
    const std::string* token = model->IdToToken(id);
    if (token != nullptr && special_texts.contains(*token)) special[id] = true;
  }
  return OkStatus();
}

Status Tokenizer::Impl::EncodeSection(std::string_view text, int section_index,
                                      std::vector<int>* ids) const {
  std::vector<std::string> words(1, std::string(text));
  if (pre_tokenizer) MIES_RETURN_IF_ERROR(pre_tokenizer->PreTokenize(words, section_index));
  model->Encode(words, ids);
  return OkStatus();
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& dir) {
  MIES_ASSIGN_OR_RETURN(std::string tokenizer_json, ReadWholeFile(dir + "/tokenizer.json"));
  std::string config_json, generation_json;
  if (auto c = ReadWholeFile(dir + "/tokenizer_config.json"); c.ok()) config_json = std::move(*c);
  if (auto g = ReadWholeFile(dir + "/generation_config.json"); g.ok()) {
    generation_json = std::move(*g);
  }
  auto result = FromJson(tokenizer_json, config_json, generation_json);
  if (!result.ok()) {
    return absl::Status(result.status().code(),
                        absl::StrCat(dir, "/tokenizer.json: ", result.status().message()));
  }
  return result;
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view tokenizer_json,
                                                         std::string_view tokenizer_config_json,
                                                         std::string_view generation_config_json) {
  auto parse = [](std::string_view text, const char* name) -> StatusOr<json> {
    if (text.empty()) return json::object();
    MIES_RETURN_IF_ERROR(CheckJsonTextDepth(text, name));
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return InvalidArgument(name, " is not valid JSON");
    if (!j.is_object()) return InvalidArgument(name, " must be a JSON object");
    return j;
  };
  BpeTables tables;
  MIES_ASSIGN_OR_RETURN(json tj, ParseTokenizerJson(tokenizer_json, &tables));
  MIES_ASSIGN_OR_RETURN(json config, parse(tokenizer_config_json, "tokenizer_config.json"));
  MIES_ASSIGN_OR_RETURN(json generation, parse(generation_config_json, "generation_config.json"));
  // nlohmann throws on type mismatches in value()/get(); this is the module edge for them.
  try {
    auto impl = std::make_unique<Impl>();
    for (const char* key : {"truncation", "padding"}) {
      if (tj.contains(key) && !tj[key].is_null()) {
        return InvalidArgument(key, " is not supported (must be null)");
      }
    }
    MIES_RETURN_IF_ERROR(impl->LoadAddedTokens(tj.value("added_tokens", json())));
    std::vector<std::pair<std::string, int>> added_pairs;
    for (const AddedToken& a : impl->added) added_pairs.emplace_back(a.content, a.id);
    auto model = BpeModel::Create(tj.value("model", json()), std::move(tables), added_pairs);
    if (!model.ok()) {
      return absl::Status(model.status().code(), absl::StrCat(model.status().message()));
    }
    impl->model = std::move(*model);
    MIES_ASSIGN_OR_RETURN(impl->normalizer,
                          MakeNormalizer(tj.value("normalizer", json()), "normalizer"));
    MIES_ASSIGN_OR_RETURN(impl->pre_tokenizer,
                          MakePreTokenizer(tj.value("pre_tokenizer", json()), "pre_tokenizer"));
    auto added_texts = std::make_shared<absl::flat_hash_set<std::string>>();
    for (const AddedToken& a : impl->added) added_texts->insert(a.content);
    MIES_ASSIGN_OR_RETURN(
        impl->decoder, MakeDecoder(tj.value("decoder", json()), "decoder", std::move(added_texts)));
    MIES_RETURN_IF_ERROR(
        impl->LoadPostProcessor(tj.value("post_processor", json()), "post_processor"));
    MIES_RETURN_IF_ERROR(impl->ApplyConfig(config, generation));

    std::vector<std::string> raw_keys, norm_keys;
    std::vector<const AddedToken*> raw_tokens, norm_tokens;
    for (const AddedToken& a : impl->added) {
      if (a.normalized && impl->normalizer) {
        MIES_ASSIGN_OR_RETURN(std::string key, impl->normalizer->Normalize(a.content));
        norm_keys.push_back(std::move(key));
        norm_tokens.push_back(&a);
      } else {
        raw_keys.push_back(a.content);
        raw_tokens.push_back(&a);
      }
    }
    impl->raw_splitter.Build(std::move(raw_keys), std::move(raw_tokens));
    impl->normalized_splitter.Build(std::move(norm_keys), std::move(norm_tokens));
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  } catch (const json::exception& e) {
    return InvalidArgument("unexpected JSON value type: ", e.what());
  }
}

StatusOr<std::vector<int>> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return InvalidArgument("text to encode is not valid UTF-8 (byte offset ", bad, ")");
  }
  const Impl& m = *impl_;
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 4);
  const std::vector<TextSection> sections = m.raw_splitter.Split(text);
  for (size_t s = 0; s < sections.size(); ++s) {
    const TextSection& section = sections[s];
    if (section.text.empty()) continue;
    if (section.token >= 0) {
      ids.push_back(m.raw_splitter.token(section.token).id);
      continue;
    }
    std::string normalized;
    std::string_view current = section.text;
    if (m.normalizer) {
      MIES_ASSIGN_OR_RETURN(normalized, m.normalizer->Normalize(section.text));
      current = normalized;
    }
    if (current.empty()) continue;
    for (const TextSection& sub : m.normalized_splitter.Split(current)) {
      if (sub.text.empty()) continue;
      if (sub.token >= 0) {
        ids.push_back(m.normalized_splitter.token(sub.token).id);
      } else {
        MIES_RETURN_IF_ERROR(m.EncodeSection(sub.text, static_cast<int>(s), &ids));
      }
    }
  }
  if (add_special_tokens) {
    for (const Template& t : m.post) {
      if (t.prefix.empty() && t.suffix.empty()) continue;
      std::vector<int> wrapped(t.prefix);
      wrapped.insert(wrapped.end(), ids.begin(), ids.end());
      wrapped.insert(wrapped.end(), t.suffix.begin(), t.suffix.end());
      ids = std::move(wrapped);
    }
  }
  return ids;
}

std::string Tokenizer::Decode(std::span<const int> ids, const DecodeOptions& options) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int id : ids) {
    const std::string* token = m.model->IdToToken(id);
    if (token == nullptr) continue;
    if (options.skip_special_tokens && m.special[id]) continue;
    tokens.push_back(*token);
  }
  std::string text;
  if (m.decoder) {
    m.decoder->DecodeChain(tokens);
    for (const std::string& t : tokens) text += t;
  } else {
    // The reference joins with spaces when a file has no decoder.
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) text.push_back(' ');
      text += tokens[i];
    }
  }
  if (options.clean_up_tokenization_spaces.value_or(m.clean_up)) {
    text = CleanUpTokenizationSpaces(std::move(text));
  }
  return text;
}

std::string CleanUpTokenizationSpaces(std::string text) {
  static const std::pair<std::string_view, std::string_view> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) {
    if (text.find(from) == std::string::npos) continue;
    std::string out;
    out.reserve(text.size());
    size_t last = 0;
    for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, last)) {
      out.append(text, last, pos - last);
      out += to;
      last = pos + from.size();
    }
    out.append(text, last, std::string::npos);
    text = std::move(out);
  }
  return text;
}

int Tokenizer::TokenToId(std::string_view token) const { return impl_->model->TokenToId(token); }

std::optional<std::string> Tokenizer::IdToToken(int id) const {
  const std::string* token = impl_->model->IdToToken(id);
  if (token == nullptr) return std::nullopt;
  return *token;
}

std::optional<std::string> Tokenizer::TokenBytes(int id) const {
  const std::string* token = impl_->model->IdToToken(id);
  if (token == nullptr) return std::nullopt;
  std::string bytes = *token;
  if (impl_->decoder) {
    impl_->decoder->TokenBytes(bytes);
  } else {
    bytes.insert(0, 1, ' ');  // Decode joins tokens with spaces (see StripsLeadingSpace)
  }
  return bytes;
}

bool Tokenizer::StripsLeadingSpace() const {
  return impl_->decoder == nullptr || impl_->decoder->StripsLeadingSpace();
}

int Tokenizer::vocab_size() const { return impl_->model->IdSpaceSize(); }
std::optional<int> Tokenizer::bos_id() const { return impl_->bos; }
const std::vector<int>& Tokenizer::eos_ids() const { return impl_->eos; }
std::optional<int> Tokenizer::pad_id() const { return impl_->pad; }
std::optional<int> Tokenizer::unk_id() const { return impl_->unk; }
bool Tokenizer::IsSpecial(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() && impl_->special[id];
}
bool Tokenizer::clean_up_tokenization_spaces() const { return impl_->clean_up; }

}  // namespace mies::tokenizer
