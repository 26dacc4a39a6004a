// mistral: after the [TOOL_CALLS] special token, either a JSON list of calls (tokenizers up to
// v7, e.g. Mistral-7B-Instruct-v0.3)
//   [TOOL_CALLS][{"name": "f", "arguments": {...}}, {"name": "g", "arguments": {...}}]
// or, from v11 (Mistral Small 3.2, Magistral), one marker per call with the name outside JSON
//   [TOOL_CALLS]f[ARGS]{...}[TOOL_CALLS]g[ARGS]{...}
// [TOOL_CALLS] and [ARGS] are special tokens, so the detokenizer must keep them.
#include "server/tool_call_parser.h"

namespace mies::server {

namespace {

constexpr std::string_view kToolCalls = "[TOOL_CALLS]";
constexpr std::string_view kArgs = "[ARGS]";

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

class MistralParser : public ToolCallParser {
 protected:
  bool Step() override {
    switch (phase_) {
      case Phase::kContent: {
        size_t which = 0;
        if (ContentUntil({kToolCalls}, &which) != Match::kYes) return false;
        Literal(kToolCalls);
        phase_ = Phase::kSection;
        return true;
      }
      case Phase::kSection: {
        const size_t save = pos();
        SkipWs();
        if (rest().empty()) {
          set_pos(save);
          if (!at_end()) return false;
          return Abort();
        }
        if (rest().front() == '[') {
          Literal("[");
          phase_ = Phase::kListHeader;
          return true;
        }
        if (IsNameChar(rest().front())) {
          phase_ = Phase::kName;
          return true;
        }
        set_pos(save);
        return Abort();
      }
      case Phase::kListHeader:
        return Advance(BeginObjectCall({"arguments", "parameters"}), &phase_, Phase::kListArguments,
                       Phase::kContent);
      case Phase::kListArguments:
        return Advance(Arguments(), &phase_, Phase::kListTail, Phase::kContent);
      case Phase::kListTail:
        return Advance(EndCall({"}"}), &phase_, Phase::kListNext, Phase::kContent);
      case Phase::kListNext: {
        // `,` and the next call, or `]`; anything else ends the list, and is content.
        const size_t save = pos();
        SkipWs();
        Match m = Literal(",");
        Phase next = Phase::kListHeader;
        if (m == Match::kNo) {
          m = Literal("]");
          next = Phase::kContent;
        }
        if (m == Match::kMore) {
          set_pos(save);
          return false;
        }
        if (m == Match::kNo) set_pos(save);
        EmitMarkup();
        phase_ = m == Match::kYes ? next : Phase::kContent;
        return true;
      }
      case Phase::kNamedArguments:
        return Advance(Arguments(), &phase_, Phase::kNamedEnd, Phase::kContent);
      case Phase::kNamedEnd:  // nothing closes the call but its arguments' end
        return Advance(EndCall({}), &phase_, Phase::kContent, Phase::kContent);
      case Phase::kName: {
        std::string name;
        const Match m = TextUntil({kArgs}, &name);
        if (m == Match::kMore) return false;
        bool ok = m == Match::kYes && !name.empty();
        for (char c : name) ok = ok && IsNameChar(c);
        if (!ok) return Abort();
        Literal(kArgs);
        EmitBegin(std::move(name));
        phase_ = Phase::kNamedArguments;
        return true;
      }
    }
    return false;
  }

 private:
  enum class Phase {
    kContent,
    kSection,
    kListHeader,
    kListArguments,
    kListTail,
    kListNext,
    kName,
    kNamedArguments,
    kNamedEnd,
  };

  bool Abort() {
    EmitAbort();
    phase_ = Phase::kContent;
    return true;
  }

  Phase phase_ = Phase::kContent;
};

class MistralFormat : public ToolCallFormat {
 public:
  const char* name() const override { return "mistral"; }
  std::unique_ptr<ToolCallParser> NewParser() const override {
    return std::make_unique<MistralParser>();
  }
  // The list form, which every Mistral tokenizer version reads back.
  nlohmann::ordered_json CallsFormat(std::span<const FunctionTool> tools,
                                     bool parallel) const override {
    auto begin = [](const FunctionTool& t) { return CallObjectPrefix(t.name, "arguments"); };
    return {{"type", "tag"},
            {"begin", std::string(kToolCalls) + "["},
            {"content", CallTags(tools, begin, "}", ", ", parallel)},
            {"end", "]"}};
  }
  bool needs_special_tokens() const override { return true; }
  std::string NewCallId() const override { return RandomAlnum(9); }
};

}  // namespace

const ToolCallFormat& MistralToolCallFormat() {
  static const MistralFormat format;
  return format;
}

}  // namespace mies::server
