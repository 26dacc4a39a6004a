// llama3_json (Llama 3.1/3.2/3.3 JSON tool calling): the whole answer is the calls,
//   {"name": "f", "parameters": {...}}; {"name": "g", "parameters": {...}}
// optionally after <|python_tag|> (a special token, gone when special tokens are skipped).
// An answer that does not start so is content; "arguments" is accepted for "parameters".
#include "server/tool_call_parser.h"

namespace mies::server {

namespace {

constexpr std::string_view kPythonTag = "<|python_tag|>";

class Llama3JsonParser : public ToolCallParser {
 protected:
  bool Step() override {
    switch (phase_) {
      case Phase::kStart: {
        const size_t save = pos();
        SkipWs();
        const Match tag = Literal(kPythonTag);
        if (tag == Match::kYes || (tag == Match::kNo && rest().starts_with("{"))) {
          phase_ = Phase::kHeader;
          return true;
        }
        set_pos(save);
        if (tag == Match::kMore ||
            (rest().find_first_not_of(" \t\r\n") == std::string::npos && !at_end())) {
          return false;
        }
        phase_ = Phase::kPlain;
        return true;
      }
      case Phase::kHeader:
        return Advance(BeginObjectCall({"parameters", "arguments"}), &phase_, Phase::kArguments,
                       Phase::kPlain);
      case Phase::kArguments:
        return Advance(Arguments(), &phase_, Phase::kTail, Phase::kPlain);
      case Phase::kTail:
        return Advance(EndCall({"}"}), &phase_, Phase::kBetween, Phase::kPlain);
      case Phase::kBetween: {
        const size_t save = pos();
        SkipWs();
        const Match m = Literal(";");
        if (m == Match::kMore) {
          set_pos(save);
          return false;
        }
        if (m == Match::kNo) {
          set_pos(save);
          phase_ = Phase::kPlain;
          return true;
        }
        SkipWs();
        EmitMarkup();
        phase_ = Phase::kHeader;
        return true;
      }
      case Phase::kPlain: {
        size_t which = 0;
        ContentUntil({}, &which);
        return false;
      }
    }
    return false;
  }

 private:
  enum class Phase { kStart, kHeader, kArguments, kTail, kBetween, kPlain };

  Phase phase_ = Phase::kStart;
};

class Llama3JsonFormat : public ToolCallFormat {
 public:
  const char* name() const override { return "llama3_json"; }
  std::unique_ptr<ToolCallParser> NewParser() const override {
    return std::make_unique<Llama3JsonParser>();
  }
  nlohmann::ordered_json CallsFormat(std::span<const FunctionTool> tools,
                                     bool parallel) const override {
    auto begin = [](const FunctionTool& t) { return CallObjectPrefix(t.name, "parameters"); };
    return CallTags(tools, begin, "}", "; ", parallel);
  }
};

}  // namespace

const ToolCallFormat& Llama3JsonToolCallFormat() {
  static const Llama3JsonFormat format;
  return format;
}

}  // namespace mies::server
