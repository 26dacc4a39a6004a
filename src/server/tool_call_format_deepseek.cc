// deepseek_v3 (DeepSeek-V3, R1-0528) and deepseek_v31 (V3.1): calls sit in a section
//   <｜tool▁calls▁begin｜> call (\n call)* <｜tool▁calls▁end｜>
// where a call is, in V3,
//   <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>
// and in V3.1
//   <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>
// One parser reads both (the text before the separator tells them apart); the two formats
// differ in what they force for tool_choice.
#include "server/tool_call_parser.h"

namespace mies::server {

namespace {

constexpr std::string_view kCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kSep = "<｜tool▁sep｜>";

class DeepSeekParser : public ToolCallParser {
 protected:
  bool Step() override {
    switch (phase_) {
      case Phase::kContent: {
        size_t which = 0;
        if (ContentUntil({kCallsBegin}, &which) != Match::kYes) return false;
        Literal(kCallsBegin);
        calls_in_section_ = 0;
        phase_ = Phase::kSection;
        return true;
      }
      case Phase::kSection: {
        const size_t save = pos();
        SkipWs();
        Match m = Literal(kCallBegin);
        if (m == Match::kYes) {
          phase_ = Phase::kHead;
          return true;
        }
        const Match end = m == Match::kNo ? Literal(kCallsEnd) : Match::kMore;
        if (end == Match::kMore && !at_end()) {
          set_pos(save);
          return false;
        }
        if (end == Match::kYes && calls_in_section_ > 0) {
          EmitMarkup();
          phase_ = Phase::kContent;
          return true;
        }
        if (calls_in_section_ > 0 && rest().find_first_not_of(" \t\r\n") == std::string::npos &&
            at_end()) {
          EmitMarkup();  // the section end was cut off
          return false;
        }
        if (end != Match::kYes) set_pos(save);
        return Abort();
      }
      case Phase::kHead: {
        std::string head;
        const Match m = TextUntil({kSep}, &head);
        if (m == Match::kMore) return false;
        if (m == Match::kNo || head.empty()) return Abort();
        Literal(kSep);
        if (head == "function") {
          v3_ = true;
          phase_ = Phase::kV3Name;
          return true;
        }
        v3_ = false;
        EmitBegin(std::move(head));
        phase_ = Phase::kArguments;
        return true;
      }
      case Phase::kV3Name: {
        // NAME\n```json\n (any language tag, or none)
        const size_t save = pos();
        std::string name;
        std::string language;
        Match m = TextUntil({"\n"}, &name);
        if (m == Match::kYes) m = Literal("\n");
        if (m == Match::kYes) m = Literal("```");
        if (m == Match::kYes) m = TextUntil({"\n"}, &language, 16);
        if (m == Match::kYes) m = Literal("\n");
        if (m == Match::kMore) {
          set_pos(save);
          return false;
        }
        if (m == Match::kNo || name.empty()) {
          set_pos(save);
          return Abort();
        }
        EmitBegin(std::move(name));
        phase_ = Phase::kArguments;
        return true;
      }
      case Phase::kArguments:
        return Advance(Arguments(), &phase_, Phase::kTail, Phase::kContent);
      case Phase::kTail: {
        const Match m = v3_ ? EndCall({"```", kCallEnd}) : EndCall({kCallEnd});
        if (m == Match::kMore) return false;
        if (m == Match::kYes) ++calls_in_section_;
        phase_ = m == Match::kYes ? Phase::kSection : Phase::kContent;
        return true;
      }
    }
    return false;
  }

 private:
  enum class Phase { kContent, kSection, kHead, kV3Name, kArguments, kTail };

  bool Abort() {
    EmitAbort();
    phase_ = Phase::kContent;
    return true;
  }

  Phase phase_ = Phase::kContent;
  bool v3_ = true;
  int calls_in_section_ = 0;
};

class DeepSeekFormat : public ToolCallFormat {
 public:
  explicit DeepSeekFormat(bool v31) : v31_(v31) {}
  const char* name() const override { return v31_ ? "deepseek_v31" : "deepseek_v3"; }
  std::unique_ptr<ToolCallParser> NewParser() const override {
    return std::make_unique<DeepSeekParser>();
  }
  nlohmann::ordered_json CallsFormat(std::span<const FunctionTool> tools,
                                     bool parallel) const override {
    auto begin = [this](const FunctionTool& t) {
      return std::string(kCallBegin) +
             (v31_ ? t.name + std::string(kSep)
                   : "function" + std::string(kSep) + t.name + "\n```json\n");
    };
    const std::string end = (v31_ ? "" : "\n```") + std::string(kCallEnd);
    return {{"type", "tag"},
            {"begin", kCallsBegin},
            {"content", CallTags(tools, begin, end, "\n", parallel)},
            {"end", kCallsEnd}};
  }

 private:
  bool v31_;
};

}  // namespace

const ToolCallFormat& DeepSeekV3ToolCallFormat() {
  static const DeepSeekFormat format(/*v31=*/false);
  return format;
}

const ToolCallFormat& DeepSeekV31ToolCallFormat() {
  static const DeepSeekFormat format(/*v31=*/true);
  return format;
}

}  // namespace mies::server
