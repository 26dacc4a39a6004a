// Tool calls in generated text: one ToolCallFormat per model family (how its chat template asks
// the model to write a call), each with an incremental parser and the structured-output format
// that forces calls of given functions (tool_choice "required" or a named function).
//
// A parser is fed the generation's text in whatever pieces the detokenizer produces and reports
// ToolParseEvents in text order: content, then per call its header (the function name), the
// arguments' JSON in fragments as they arrive, and its end; or, when the text stops following
// the format, an abort that hands back the call's unreported text. Each event carries the raw
// text it stands for, so nothing the model wrote is lost whatever the caller commits to
// (ToolCallExtractor). Text that may still turn into a marker ("<tool_c") is held back until
// the next piece decides it. The events are the same whatever the pieces are.
//
// Families (files tool_call_format_*.cc):
//   hermes        <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>  (Qwen2.5/3, Hermes)
//   llama3_json   {"name": "f", "parameters": {...}}; {...}  at the start, optional <|python_tag|>
//   mistral       [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]  or [TOOL_CALLS]f[ARGS]{...}
//   deepseek_v3
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{...}\n```
//                 <｜tool▁call▁end｜>...<｜tool▁calls▁end｜>  (deepseek_v31: f<｜tool▁sep｜>{...})
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/json_scanner.h"

namespace mies::server {

struct ToolParseEvent {
  enum class Kind {
    kContent,    // text: plain content
    kCallBegin,  // text: the function name; a call starts
    kCallArgs,   // text: the next fragment of the call's arguments (JSON text)
    kCallEnd,    // the call is complete
    kCallAbort,  // the text stopped following the format: the call is off (raw: its unreported
                 // text, which is content)
    kMarkup,     // format text between calls (section markers, separators)
  };
  Kind kind = Kind::kContent;
  std::string text;
  std::string raw;  // the model's text this event stands for
};

// A function the request offers (`tools[i].function`).
struct FunctionTool {
  std::string name;
  nlohmann::ordered_json parameters;  // JSON schema of the arguments; an empty object when absent
};

class ToolCallParser {
 public:
  virtual ~ToolCallParser() = default;
  void Feed(std::string_view text, std::vector<ToolParseEvent>* events);
  // End of the generation: decides everything held back. A call left open is aborted unless
  // its arguments are complete (a missing closing tag is forgiven).
  void Finish(std::vector<ToolParseEvent>* events);

 protected:
  enum class Match { kYes, kNo, kMore };

  // Advances the family's state machine from the cursor; false when it cannot go on without
  // more text (or, at the end, when everything was decided).
  virtual bool Step() = 0;

  bool at_end() const { return at_end_; }
  std::string_view rest() const { return std::string_view(buf_).substr(pos_); }
  size_t pos() const { return pos_; }
  void set_pos(size_t pos) { pos_ = pos; }
  // kMore becomes kNo at the end of the text.
  Match More() const { return at_end_ ? Match::kNo : Match::kMore; }

  // Cursor helpers: kYes advances past what matched; kNo and kMore leave the cursor.
  Match Literal(std::string_view lit);
  void SkipWs();
  // A JSON string token ("..."), decoded into *value (at most `max_bytes` long).
  Match JsonString(std::string* value, size_t max_bytes = 256);
  // Bytes up to (not including) the first of `stops`, at most `max_bytes`, into *value.
  Match TextUntil(std::initializer_list<std::string_view> stops, std::string* value,
                  size_t max_bytes = 256);
  // `{"name": "<name>", "<key>": ` with any JSON whitespace, key one of `arg_keys`; the cursor
  // ends at the arguments' first byte. Rewinds on kNo/kMore.
  Match CallObjectHeader(std::string* name, std::initializer_list<std::string_view> arg_keys);
  // Content up to the first of `markers`, emitted now; kYes with the cursor on the marker and
  // *which its index; kMore after emitting all that cannot start a marker; kNo at the end
  // (everything emitted).
  Match ContentUntil(std::initializer_list<std::string_view> markers, size_t* which);
  // The arguments' JSON value, emitted in fragments: kYes when it ended, kMore when the text so
  // far is a valid prefix, kNo on the first byte that cannot continue it (not consumed).
  Match JsonArguments();

  // The steps every family's call goes through. kNo has aborted the call (its text is content
  // again from where the format broke); kMore waits for text.
  // A call object's header (CallObjectHeader): the call begins.
  Match BeginObjectCall(std::initializer_list<std::string_view> arg_keys);
  // Its arguments.
  Match Arguments();
  // What closes it: `parts` in order, whitespace allowed before each; the call ends. At the end
  // of the text, a close cut short (nothing but whitespace and the start of the next part left)
  // is forgiven.
  Match EndCall(std::initializer_list<std::string_view> parts);

  // After a step: false to wait for more text, else true with `*phase` set to `next` (kYes) or
  // `aborted` (kNo).
  template <typename Phase>
  static bool Advance(Match m, Phase* phase, Phase next, Phase aborted) {
    if (m == Match::kMore) return false;
    *phase = m == Match::kYes ? next : aborted;
    return true;
  }

  // Events; each takes the raw text from the last event to the cursor.
  void EmitContent();
  void EmitBegin(std::string name);
  void EmitEnd();
  void EmitAbort();
  void EmitMarkup();

 private:
  void Emit(ToolParseEvent::Kind kind, std::string text);

  std::string buf_;
  size_t pos_ = 0;   // cursor
  size_t mark_ = 0;  // start of the raw text not yet reported
  bool at_end_ = false;
  bool in_call_ = false;
  bool args_started_ = false;
  JsonScanner args_;
  std::vector<ToolParseEvent>* out_ = nullptr;
};

class ToolCallFormat {
 public:
  virtual ~ToolCallFormat() = default;
  // The name configs use (ModelConfig.tool_call_parser), e.g. "hermes".
  virtual const char* name() const = 0;
  virtual std::unique_ptr<ToolCallParser> NewParser() const = 0;
  // A structural-tag format (xgrammar's "format" object) that admits only calls to `tools` in
  // this family's syntax: at least one, and exactly one unless `parallel`.
  virtual nlohmann::ordered_json CallsFormat(std::span<const FunctionTool> tools,
                                             bool parallel) const = 0;
  // The detokenizer must keep special tokens, because the markers are ones (Mistral).
  virtual bool needs_special_tokens() const { return false; }
  // The id of a new call: "call_" and 24 alphanumerics (Mistral's templates take only 9).
  virtual std::string NewCallId() const;
};

// By configuration name (MindIE's tool_call_parser and vLLM's names): hermes, qwen2_5, qwen3,
// llama3, llama3_json, mistral, deepseek_v3, deepseek_v31. nullptr when unknown.
const ToolCallFormat* FindToolCallFormat(std::string_view name);
std::vector<std::string> ToolCallFormatNames();
// The family whose call syntax a chat template's source writes or describes (nullptr: none).
const ToolCallFormat* ToolCallFormatOfTemplate(std::string_view template_source);

// The formats, for the registry and tests.
const ToolCallFormat& HermesToolCallFormat();
const ToolCallFormat& Llama3JsonToolCallFormat();
const ToolCallFormat& MistralToolCallFormat();
const ToolCallFormat& DeepSeekV3ToolCallFormat();
const ToolCallFormat& DeepSeekV31ToolCallFormat();

// Helpers for the formats' CallsFormat.
nlohmann::ordered_json JsonSchemaFormat(const nlohmann::ordered_json& schema);
// One "tag" per tool: `begin(tool)`, the arguments per the tool's parameters schema, `end`; in a
// {"type":"tags_with_separator", separator, at_least_one: true, stop_after_first: !parallel}.
nlohmann::ordered_json CallTags(std::span<const FunctionTool> tools,
                                const std::function<std::string(const FunctionTool&)>& begin,
                                std::string_view end, std::string_view separator, bool parallel);
// `{"name": "<name>", "<key>": `, as the templates write it.
std::string CallObjectPrefix(std::string_view name, std::string_view key);
// Random alphanumerics.
std::string RandomAlnum(size_t n);

}  // namespace mies::server
