// Tool-call parsing per model family: every format read whole and in pieces split at every byte
// gives the same calls and content; malformed calls stay content (whole) and no text is lost
// (streamed); the structural tag each format forces for tool_choice is text its own parser reads
// back; and the JSON scanner that finds where arguments end.
#include "server/tool_call_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "server/chat_output.h"
#include "server/json_scanner.h"

namespace mies::server {
namespace {

using json = nlohmann::json;
using ::testing::MatchesRegex;

// --- JsonScanner -----------------------------------------------------------------------------

JsonScanner::Result ScanAll(std::string_view text, size_t* consumed) {
  JsonScanner s;
  *consumed = 0;
  JsonScanner::Result r = JsonScanner::Result::kMore;
  for (char c : text) {
    r = s.Feed(c);
    if (r == JsonScanner::Result::kMore || r == JsonScanner::Result::kEnded) ++*consumed;
    if (r != JsonScanner::Result::kMore) break;
  }
  return r;
}

TEST(JsonScannerTest, FindsTheEndOfAValueAndRejectsWhatCannotContinueIt) {
  size_t n = 0;
  EXPECT_EQ(ScanAll(R"({"a": [1, 2.5e-3, "x\"}"], "b": {"c": null}}})", &n),
            JsonScanner::Result::kEnded);
  EXPECT_EQ(n, std::string(R"({"a": [1, 2.5e-3, "x\"}"], "b": {"c": null}})").size());
  EXPECT_EQ(ScanAll(R"(  "str" tail)", &n), JsonScanner::Result::kEnded);
  EXPECT_EQ(n, 7u);
  // A top-level number ends on the byte after it, which is not consumed.
  EXPECT_EQ(ScanAll("-12.5}", &n), JsonScanner::Result::kEndedBefore);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(ScanAll(R"({"a": })", &n), JsonScanner::Result::kInvalid);
  EXPECT_EQ(ScanAll(R"({"a" 1})", &n), JsonScanner::Result::kInvalid);
  EXPECT_EQ(ScanAll("[1,]", &n), JsonScanner::Result::kInvalid);
  EXPECT_EQ(ScanAll("01", &n), JsonScanner::Result::kInvalid);
  EXPECT_EQ(ScanAll("tru e", &n), JsonScanner::Result::kInvalid);
  EXPECT_EQ(ScanAll("\"a\nb\"", &n), JsonScanner::Result::kInvalid);  // raw control character
  EXPECT_EQ(ScanAll(R"({"a": [1, {"b": "un)", &n), JsonScanner::Result::kMore);
  JsonScanner s;
  for (char c : std::string("42")) s.Feed(c);
  EXPECT_TRUE(s.CompleteAtEnd());
}

// --- formats ---------------------------------------------------------------------------------

struct Result {
  std::string content;
  std::vector<ToolCall> calls;
};

// Feeds `pieces` through a parser of `format` and assembles what it reports.
Result Parse(const ToolCallFormat& format, bool stream, const std::vector<std::string>& pieces,
             bool parallel = true) {
  ChatOutputOptions o;
  o.tool_format = &format;
  o.stream = stream;
  o.parallel_tool_calls = parallel;
  ChatOutputParser p(o);
  ChatMessage m;
  for (const std::string& piece : pieces) m.Add(p.Feed(piece));
  m.Add(p.Finish());
  return {m.content, m.tool_calls};
}

std::vector<std::vector<std::string>> EverySplit(const std::string& text) {
  std::vector<std::vector<std::string>> splits;
  for (size_t i = 0; i <= text.size(); ++i) splits.push_back({text.substr(0, i), text.substr(i)});
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  splits.push_back(bytes);
  return splits;
}

void ExpectSameCalls(const Result& got, const Result& want, const std::string& where) {
  EXPECT_EQ(got.content, want.content) << where;
  ASSERT_EQ(got.calls.size(), want.calls.size()) << where;
  for (size_t i = 0; i < got.calls.size(); ++i) {
    EXPECT_EQ(got.calls[i].name, want.calls[i].name) << where;
    EXPECT_EQ(got.calls[i].arguments, want.calls[i].arguments) << where;
  }
}

// Whole, streamed in one piece, and streamed split at every byte: all the same as `want`.
void ExpectParses(const ToolCallFormat& format, const std::string& text, const Result& want) {
  ExpectSameCalls(Parse(format, false, {text}), want, "whole");
  for (const auto& pieces : EverySplit(text)) {
    std::string where = "split " + std::to_string(pieces[0].size());
    ExpectSameCalls(Parse(format, true, pieces), want, "streamed, " + where);
    ExpectSameCalls(Parse(format, false, pieces), want, "whole, " + where);
  }
}

Result Calls(std::string content, std::vector<std::pair<std::string, std::string>> calls) {
  Result r;
  r.content = std::move(content);
  for (auto& [name, args] : calls) r.calls.push_back({"", name, args});
  return r;
}

TEST(ToolCallParserTest, HermesCallsAnywhereInTheText) {
  const auto& f = HermesToolCallFormat();
  ExpectParses(f,
               "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
               "\"Paris\", \"days\": [1, 2]}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
               "\"arguments\": {}}\n</tool_call>",
               Calls("Let me check.", {{"get_weather", R"({"city": "Paris", "days": [1, 2]})"},
                                       {"get_time", "{}"}}));
  // "parameters" for "arguments", compact JSON, text after the calls.
  ExpectParses(f,
               "<tool_call>{\"name\":\"f\",\"parameters\":{\"x\":\"</tool_call>\"}}</tool_call> "
               "done",
               Calls("done", {{"f", R"({"x":"</tool_call>"})"}}));
  // No call at all, and a tag-like text that is not one.
  ExpectParses(f, "a <tool> b <tool_c", Calls("a <tool> b <tool_c", {}));
  // Cut off after complete arguments: the closing tag is forgiven.
  ExpectParses(f, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool",
               Calls("", {{"f", R"({"a": 1})"}}));
}

TEST(ToolCallParserTest, MalformedHermesCallsStayContent) {
  const auto& f = HermesToolCallFormat();
  for (const std::string text : {
           "<tool_call>\nnot json\n</tool_call>",
           "x <tool_call>{\"arguments\": {}, \"name\": \"f\"}</tool_call>",
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": }}\n</tool_call> tail",
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}} junk </tool_call>",
           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2",
       }) {
    SCOPED_TRACE(text);
    // Whole: a call counts only once complete, so all of it is content.
    Result whole = Parse(f, false, {text});
    EXPECT_TRUE(whole.calls.empty());
    EXPECT_EQ(whole.content, text);
    // Streamed: a call counts from its header; what was not sent as the call is content, the
    // same for every split.
    Result one = Parse(f, true, {text});
    if (one.calls.empty()) EXPECT_EQ(one.content, text);
    for (const auto& pieces : EverySplit(text)) {
      ExpectSameCalls(Parse(f, true, pieces), one, "split " + std::to_string(pieces[0].size()));
    }
  }
  // A broken call then a good one: the good one still counts.
  ExpectParses(f,
               "<tool_call>oops</tool_call>\n<tool_call>\n{\"name\": \"g\", \"arguments\": "
               "{}}\n</tool_call>",
               Calls("<tool_call>oops</tool_call>", {{"g", "{}"}}));
}

TEST(ToolCallParserTest, Llama3JsonCallsAreTheWholeAnswer) {
  const auto& f = Llama3JsonToolCallFormat();
  ExpectParses(f,
               "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}; {\"name\": "
               "\"get_time\", \"parameters\": {}}",
               Calls("", {{"get_weather", R"({"city": "Paris"})"}, {"get_time", "{}"}}));
  ExpectParses(f, "<|python_tag|>{\"name\": \"f\", \"arguments\": {\"n\": -1.5e3}}",
               Calls("", {{"f", R"({"n": -1.5e3})"}}));
  ExpectParses(f, "The answer is {\"name\": \"f\"}", Calls("The answer is {\"name\": \"f\"}", {}));
  ExpectParses(f, "{\"answer\": 42}", Calls("{\"answer\": 42}", {}));
  ExpectParses(f, "{\"name\": \"f\", \"parameters\": {}} and more",
               Calls("and more", {{"f", "{}"}}));
}

TEST(ToolCallParserTest, MistralListAndNamedForms) {
  const auto& f = MistralToolCallFormat();
  ExpectParses(f,
               "[TOOL_CALLS] [{\"name\": \"a\", \"arguments\": {\"x\": 1}}, {\"name\": \"b\", "
               "\"arguments\": {}}]",
               Calls("", {{"a", R"({"x": 1})"}, {"b", "{}"}}));
  ExpectParses(f, "Sure.[TOOL_CALLS]a[ARGS]{\"x\": 1}[TOOL_CALLS]b_2[ARGS]{}",
               Calls("Sure.", {{"a", R"({"x": 1})"}, {"b_2", "{}"}}));
  ExpectParses(f, "[TOOL_CALLS] nope", Calls("[TOOL_CALLS] nope", {}));
  // Mistral's templates take only 9-alphanumeric call ids.
  EXPECT_THAT(f.NewCallId(), MatchesRegex("[A-Za-z0-9]{9}"));
  EXPECT_THAT(HermesToolCallFormat().NewCallId(), MatchesRegex("call_[A-Za-z0-9]{24}"));
  EXPECT_TRUE(f.needs_special_tokens());
}

TEST(ToolCallParserTest, DeepSeekV3AndV31) {
  ExpectParses(
      DeepSeekV3ToolCallFormat(),
      "Sure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
      "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>"
      "function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end"
      "｜> Done.",
      Calls("Sure.Done.", {{"get_weather", R"({"city": "Paris"})"}, {"get_time", "{}"}}));
  ExpectParses(DeepSeekV31ToolCallFormat(),
               "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
               "\"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
               Calls("", {{"get_weather", R"({"city": "Paris"})"}}));
  const std::string empty_section = "<｜tool▁calls▁begin｜><｜tool▁calls▁end｜>";
  ExpectParses(DeepSeekV3ToolCallFormat(), empty_section, Calls(empty_section, {}));
}

TEST(ToolCallParserTest, StreamedCallsCarryIdAndNameFirstThenArgumentFragments) {
  ChatOutputOptions o;
  o.tool_format = &HermesToolCallFormat();
  o.stream = true;
  ChatOutputParser p(o);
  std::vector<ToolCallDelta> deltas;
  for (const char* piece :
       {"<tool_call>\n{\"name\": \"f\", \"argu", "ments\": {\"a\": ", "\"long text\"",
        "}}\n</tool_call>\n<tool_call>", "{\"name\": \"g\", \"arguments\": {}}</tool_call>"}) {
    for (auto& d : p.Feed(piece).tool_calls) deltas.push_back(d);
  }
  for (auto& d : p.Finish().tool_calls) deltas.push_back(d);
  ASSERT_GE(deltas.size(), 4u);
  EXPECT_EQ(deltas[0].index, 0);
  EXPECT_EQ(deltas[0].name, "f");
  EXPECT_FALSE(deltas[0].id.empty());
  // The arguments arrive as they were generated, not at the end of the call.
  EXPECT_EQ(deltas[1].index, 0);
  EXPECT_TRUE(deltas[1].id.empty());
  EXPECT_EQ(deltas[1].arguments, "\"long text\"");
  EXPECT_EQ(deltas.back().index, 1);
  EXPECT_EQ(p.tool_calls(), 2);
}

TEST(ToolCallParserTest, WithoutParallelCallsOnlyTheFirstCounts) {
  const std::string text =
      "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"b\", "
      "\"arguments\": {}}</tool_call>";
  for (bool stream : {false, true}) {
    Result r = Parse(HermesToolCallFormat(), stream, {text}, /*parallel=*/false);
    ASSERT_EQ(r.calls.size(), 1u);
    EXPECT_EQ(r.calls[0].name, "a");
    EXPECT_EQ(r.content, "");
  }
}

TEST(ToolCallParserTest, FormatsAreFoundByNameAndFromTheirTemplates) {
  EXPECT_EQ(FindToolCallFormat("qwen3"), &HermesToolCallFormat());
  EXPECT_EQ(FindToolCallFormat("llama3"), &Llama3JsonToolCallFormat());
  EXPECT_EQ(FindToolCallFormat("deepseek_v31"), &DeepSeekV31ToolCallFormat());
  EXPECT_EQ(FindToolCallFormat("chatglm4"), nullptr);
  EXPECT_EQ(ToolCallFormatOfTemplate("...<tool_call>\\n{...}</tool_call>..."),
            &HermesToolCallFormat());
  EXPECT_EQ(ToolCallFormatOfTemplate("{{ '[TOOL_CALLS]' }}"), &MistralToolCallFormat());
  EXPECT_EQ(ToolCallFormatOfTemplate("<｜tool▁calls▁begin｜>...```json"),
            &DeepSeekV3ToolCallFormat());
  EXPECT_EQ(ToolCallFormatOfTemplate("<｜tool▁calls▁begin｜>...<｜tool▁sep｜>"),
            &DeepSeekV31ToolCallFormat());
  EXPECT_EQ(ToolCallFormatOfTemplate("<|start_header_id|>ipython<|end_header_id|>"),
            &Llama3JsonToolCallFormat());
  EXPECT_EQ(ToolCallFormatOfTemplate("{{ messages }}"), nullptr);
}

// --- the structural tags of tool_choice --------------------------------------------------------

// One text a structural-tag format admits: each tag's begin, `args` for a json_schema content,
// end; tags_with_separator uses every tag once, in order (one when stop_after_first).
std::string Example(const json& f, const std::string& args) {
  const std::string type = f["type"];
  if (type == "json_schema") return args;
  if (type == "const_string") return f["value"];
  if (type == "tag") {
    return f["begin"].get<std::string>() + Example(f["content"], args) +
           f["end"].get<std::string>();
  }
  if (type == "tags_with_separator") {
    std::string out;
    for (size_t i = 0; i < f["tags"].size(); ++i) {
      if (i > 0) out += f["separator"].get<std::string>();
      out += Example(f["tags"][i], args);
      if (f["stop_after_first"].get<bool>()) break;
    }
    return out;
  }
  ADD_FAILURE() << "no example for " << type;
  return "";
}

TEST(ToolCallParserTest, EachFormatReadsBackTheCallsItsStructuralTagForces) {
  const json params = {
      {"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}, {"required", {"city"}}};
  const std::vector<FunctionTool> tools = {{"get_weather", params}, {"get_time", json::object()}};
  for (const ToolCallFormat* f :
       {&HermesToolCallFormat(), &Llama3JsonToolCallFormat(), &MistralToolCallFormat(),
        &DeepSeekV3ToolCallFormat(), &DeepSeekV31ToolCallFormat()}) {
    SCOPED_TRACE(f->name());
    for (bool parallel : {true, false}) {
      const json format = f->CallsFormat(tools, parallel);
      // At least one call; one only without parallel calls.
      const json& tags = format["type"] == "tag" ? format["content"] : format;
      EXPECT_EQ(tags["type"], "tags_with_separator");
      EXPECT_TRUE(tags["at_least_one"].get<bool>());
      EXPECT_EQ(tags["stop_after_first"].get<bool>(), !parallel);
      EXPECT_EQ(tags["tags"][0]["content"]["json_schema"], params);
      EXPECT_EQ(tags["tags"][1]["content"]["json_schema"], json({{"type", "object"}}));
      const std::string text = Example(format, R"({"city": "Paris"})");
      Result r = Parse(*f, false, {text});
      ASSERT_EQ(r.calls.size(), parallel ? 2u : 1u) << text;
      EXPECT_EQ(r.calls[0].name, "get_weather");
      EXPECT_EQ(json::parse(r.calls[0].arguments), json({{"city", "Paris"}}));
      EXPECT_EQ(r.content, "") << text;
      if (parallel) EXPECT_EQ(r.calls[1].name, "get_time");
    }
  }
}

}  // namespace
}  // namespace mies::server
