#include "server/tool_call_parser.h"

#include <algorithm>
#include <random>

namespace mies::server {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Length of the longest proper prefix of `marker` that `text` ends with.
size_t PartialMarkerAtEnd(std::string_view text, std::string_view marker) {
  for (size_t k = std::min(text.size(), marker.size() - 1); k > 0; --k) {
    if (text.substr(text.size() - k) == marker.substr(0, k)) return k;
  }
  return 0;
}

}  // namespace

// --- ToolCallParser ------------------------------------------------------------------------

void ToolCallParser::Feed(std::string_view text, std::vector<ToolParseEvent>* events) {
  out_ = events;
  buf_.append(text);
  while (Step()) {
  }
  // Drop what was reported; the cursor never goes back before the mark.
  if (mark_ > 0 && mark_ >= buf_.size() / 2) {
    buf_.erase(0, mark_);
    pos_ -= mark_;
    mark_ = 0;
  }
}

void ToolCallParser::Finish(std::vector<ToolParseEvent>* events) {
  out_ = events;
  at_end_ = true;
  while (Step()) {
  }
  // Whatever the family left undecided is the model's text too.
  pos_ = buf_.size();
  if (mark_ < pos_) {
    if (in_call_) {
      EmitAbort();
    } else {
      EmitContent();
    }
  } else if (in_call_) {
    EmitAbort();
  }
}

void ToolCallParser::Emit(ToolParseEvent::Kind kind, std::string text) {
  ToolParseEvent ev;
  ev.kind = kind;
  ev.raw = buf_.substr(mark_, pos_ - mark_);
  ev.text = std::move(text);
  mark_ = pos_;
  out_->push_back(std::move(ev));
}

void ToolCallParser::EmitContent() {
  if (pos_ == mark_) return;
  Emit(ToolParseEvent::Kind::kContent, buf_.substr(mark_, pos_ - mark_));
}

void ToolCallParser::EmitBegin(std::string name) {
  in_call_ = true;
  args_ = JsonScanner();
  args_started_ = false;
  Emit(ToolParseEvent::Kind::kCallBegin, std::move(name));
}

void ToolCallParser::EmitEnd() {
  in_call_ = false;
  Emit(ToolParseEvent::Kind::kCallEnd, "");
}

void ToolCallParser::EmitAbort() {
  in_call_ = false;
  Emit(ToolParseEvent::Kind::kCallAbort, "");
}

void ToolCallParser::EmitMarkup() {
  if (pos_ == mark_) return;
  Emit(ToolParseEvent::Kind::kMarkup, "");
}

ToolCallParser::Match ToolCallParser::Literal(std::string_view lit) {
  std::string_view r = rest();
  if (r.starts_with(lit)) {
    pos_ += lit.size();
    return Match::kYes;
  }
  if (lit.starts_with(r)) return More();
  return Match::kNo;
}

void ToolCallParser::SkipWs() {
  while (pos_ < buf_.size() && IsWs(buf_[pos_])) ++pos_;
}

ToolCallParser::Match ToolCallParser::JsonString(std::string* value, size_t max_bytes) {
  std::string_view r = rest();
  if (r.empty()) return More();
  if (r[0] != '"') return Match::kNo;
  size_t i = 1;
  for (; i < r.size(); ++i) {
    if (r[i] == '\\') {
      ++i;
    } else if (r[i] == '"') {
      break;
    }
    if (i > max_bytes + 1) return Match::kNo;
  }
  if (i >= r.size()) return More();
  try {
    *value = json::parse(r.substr(0, i + 1)).get<std::string>();
  } catch (const json::exception&) {
    return Match::kNo;
  }
  pos_ += i + 1;
  return Match::kYes;
}

ToolCallParser::Match ToolCallParser::TextUntil(std::initializer_list<std::string_view> stops,
                                                std::string* value, size_t max_bytes) {
  std::string_view r = rest();
  size_t best = std::string_view::npos;
  size_t longest = 0;
  for (std::string_view s : stops) {
    best = std::min(best, r.find(s));
    longest = std::max(longest, s.size());
  }
  if (best != std::string_view::npos && best <= max_bytes) {
    *value = std::string(r.substr(0, best));
    pos_ += best;
    return Match::kYes;
  }
  if (best != std::string_view::npos || r.size() > max_bytes + longest) return Match::kNo;
  return More();
}

ToolCallParser::Match ToolCallParser::CallObjectHeader(
    std::string* name, std::initializer_list<std::string_view> arg_keys) {
  const size_t save = pos_;
  auto fail = [&](Match m) {
    pos_ = save;
    return m;
  };
  for (const char* lit : {"{", "\"name\"", ":"}) {
    SkipWs();
    if (Match m = Literal(lit); m != Match::kYes) return fail(m);
  }
  SkipWs();
  if (Match m = JsonString(name); m != Match::kYes) return fail(m);
  SkipWs();
  if (Match m = Literal(","); m != Match::kYes) return fail(m);
  SkipWs();
  Match key = Match::kNo;
  for (std::string_view k : arg_keys) {
    Match m = Literal("\"" + std::string(k) + "\"");
    if (m == Match::kYes) {
      key = m;
      break;
    }
    if (m == Match::kMore) key = m;
  }
  if (key != Match::kYes) return fail(key);
  SkipWs();
  if (Match m = Literal(":"); m != Match::kYes) return fail(m);
  SkipWs();
  return Match::kYes;
}

ToolCallParser::Match ToolCallParser::ContentUntil(std::initializer_list<std::string_view> markers,
                                                   size_t* which) {
  std::string_view r = rest();
  size_t best = std::string_view::npos;
  size_t index = 0;
  for (size_t i = 0; i < markers.size(); ++i) {
    size_t at = r.find(markers.begin()[i]);
    if (at < best) {
      best = at;
      index = i;
    }
  }
  if (best != std::string_view::npos) {
    pos_ += best;
    EmitContent();
    *which = index;
    return Match::kYes;
  }
  size_t hold = 0;
  if (!at_end_) {
    for (std::string_view m : markers) hold = std::max(hold, PartialMarkerAtEnd(r, m));
  }
  pos_ = buf_.size() - hold;
  EmitContent();
  return at_end_ ? Match::kNo : Match::kMore;
}

ToolCallParser::Match ToolCallParser::JsonArguments() {
  // Whitespace before the value is the format's, not the arguments'.
  size_t text_from = mark_;
  if (!args_started_) {
    SkipWs();
    if (pos_ == buf_.size()) return More();
    args_started_ = true;
    text_from = pos_;
  }
  Match result = Match::kMore;
  while (pos_ < buf_.size()) {
    const JsonScanner::Result r = args_.Feed(buf_[pos_]);
    if (r == JsonScanner::Result::kMore) {
      ++pos_;
      continue;
    }
    if (r == JsonScanner::Result::kEnded) ++pos_;
    result = r == JsonScanner::Result::kInvalid ? Match::kNo : Match::kYes;
    break;
  }
  if (result == Match::kMore && at_end_) {
    result = args_.CompleteAtEnd() ? Match::kYes : Match::kNo;
  }
  if (pos_ > text_from) {
    Emit(ToolParseEvent::Kind::kCallArgs, buf_.substr(text_from, pos_ - text_from));
  }
  return result;
}

ToolCallParser::Match ToolCallParser::BeginObjectCall(
    std::initializer_list<std::string_view> arg_keys) {
  std::string name;
  const Match m = CallObjectHeader(&name, arg_keys);
  if (m == Match::kYes) EmitBegin(std::move(name));
  if (m == Match::kNo) EmitAbort();
  return m;
}

ToolCallParser::Match ToolCallParser::Arguments() {
  const Match m = JsonArguments();
  if (m == Match::kNo) EmitAbort();
  return m;
}

ToolCallParser::Match ToolCallParser::EndCall(std::initializer_list<std::string_view> parts) {
  const size_t save = pos_;
  for (std::string_view part : parts) {
    SkipWs();
    const Match m = Literal(part);
    if (m == Match::kYes) continue;
    if (m == Match::kMore) {
      pos_ = save;
      return m;
    }
    if (at_end_ && part.starts_with(rest())) {
      pos_ = buf_.size();
      break;
    }
    pos_ = save;
    EmitAbort();
    return Match::kNo;
  }
  EmitEnd();
  return Match::kYes;
}

// --- formats -------------------------------------------------------------------------------

std::string RandomAlnum(size_t n) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(n, 'a');
  for (char& c : s) c = kChars[rng() % (sizeof(kChars) - 1)];
  return s;
}

std::string ToolCallFormat::NewCallId() const { return "call_" + RandomAlnum(24); }

ordered_json JsonSchemaFormat(const ordered_json& schema) {
  ordered_json s =
      schema.is_object() && !schema.empty() ? schema : ordered_json{{"type", "object"}};
  return {{"type", "json_schema"}, {"json_schema", std::move(s)}};
}

ordered_json CallTags(std::span<const FunctionTool> tools,
                      const std::function<std::string(const FunctionTool&)>& begin,
                      std::string_view end, std::string_view separator, bool parallel) {
  ordered_json tags = ordered_json::array();
  for (const FunctionTool& t : tools) {
    tags.push_back({{"type", "tag"},
                    {"begin", begin(t)},
                    {"content", JsonSchemaFormat(t.parameters)},
                    {"end", end}});
  }
  return {{"type", "tags_with_separator"},
          {"tags", std::move(tags)},
          {"separator", separator},
          {"at_least_one", true},
          {"stop_after_first", !parallel}};
}

std::string CallObjectPrefix(std::string_view name, std::string_view key) {
  return "{\"name\": " + json(name).dump() + ", \"" + std::string(key) + "\": ";
}

const ToolCallFormat* FindToolCallFormat(std::string_view name) {
  if (name == "hermes" || name == "qwen3" || name == "qwen2_5") return &HermesToolCallFormat();
  if (name == "llama3_json" || name == "llama3") return &Llama3JsonToolCallFormat();
  if (name == "mistral") return &MistralToolCallFormat();
  if (name == "deepseek_v3") return &DeepSeekV3ToolCallFormat();
  if (name == "deepseek_v31") return &DeepSeekV31ToolCallFormat();
  return nullptr;
}

std::vector<std::string> ToolCallFormatNames() {
  return {"hermes",      "qwen2_5", "qwen3",       "llama3",
          "llama3_json", "mistral", "deepseek_v3", "deepseek_v31"};
}

const ToolCallFormat* ToolCallFormatOfTemplate(std::string_view source) {
  if (source.find("<tool_call>") != std::string_view::npos) return &HermesToolCallFormat();
  if (source.find("[TOOL_CALLS]") != std::string_view::npos) return &MistralToolCallFormat();
  if (source.find("<｜tool▁calls▁begin｜>") != std::string_view::npos) {
    // V3 wraps the arguments in a ```json block; V3.1 writes them right after the separator.
    return source.find("```json") != std::string_view::npos ? &DeepSeekV3ToolCallFormat()
                                                            : &DeepSeekV31ToolCallFormat();
  }
  if (source.find("<|python_tag|>") != std::string_view::npos ||
      source.find("ipython") != std::string_view::npos) {
    return &Llama3JsonToolCallFormat();
  }
  return nullptr;
}

}  // namespace mies::server
