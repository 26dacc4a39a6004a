// hermes (Qwen2.5, Qwen3, Hermes 2/3): each call is
//   <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>
// anywhere in the text, several in a row for parallel calls. The name must come first (as the
// templates write it); "parameters" is accepted for "arguments".
#include "server/tool_call_parser.h"

namespace mies::server {

namespace {

constexpr std::string_view kBegin = "<tool_call>";
constexpr std::string_view kEnd = "</tool_call>";

class HermesParser : public ToolCallParser {
 protected:
  bool Step() override {
    switch (phase_) {
      case Phase::kContent: {
        size_t which = 0;
        if (ContentUntil({kBegin}, &which) != Match::kYes) return false;
        Literal(kBegin);
        phase_ = Phase::kHeader;
        return true;
      }
      case Phase::kHeader:
        return Advance(BeginObjectCall({"arguments", "parameters"}), &phase_, Phase::kArguments,
                       Phase::kContent);
      case Phase::kArguments:
        return Advance(Arguments(), &phase_, Phase::kTail, Phase::kContent);
      case Phase::kTail:
        return Advance(EndCall({"}", kEnd}), &phase_, Phase::kContent, Phase::kContent);
    }
    return false;
  }

 private:
  enum class Phase { kContent, kHeader, kArguments, kTail };

  Phase phase_ = Phase::kContent;
};

class HermesFormat : public ToolCallFormat {
 public:
  const char* name() const override { return "hermes"; }
  std::unique_ptr<ToolCallParser> NewParser() const override {
    return std::make_unique<HermesParser>();
  }
  nlohmann::ordered_json CallsFormat(std::span<const FunctionTool> tools,
                                     bool parallel) const override {
    auto begin = [](const FunctionTool& t) {
      return std::string(kBegin) + "\n" + CallObjectPrefix(t.name, "arguments");
    };
    return CallTags(tools, begin, "}\n" + std::string(kEnd), "\n", parallel);
  }
};

}  // namespace

const ToolCallFormat& HermesToolCallFormat() {
  static const HermesFormat format;
  return format;
}

}  // namespace mies::server
