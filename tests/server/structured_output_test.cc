// Structured output through the grammar engine: every request kind compiles to a grammar that
// admits exactly the texts it should (checked byte by byte on a one-token-per-byte vocabulary),
// tool_choice's structural tags admit only calls to the allowed functions with valid arguments
// (and the model family's parser reads back what they admit), thinking models reason first, and
// compile errors are 400s naming the request field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "grammar/grammar_test_util.h"
#include "server/chat_output.h"
#include "server/constraint_spec.h"
#include "server/grammar_constraints.h"
#include "server/http_message.h"
#include "server/structural_tag_grammar.h"
#include "server/tool_call_parser.h"
#include "server/tool_request.h"

namespace mies::server {
namespace {

using grammar::testing::ByteVocabulary;
using grammar::testing::Matches;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;
using ::testing::HasSubstr;

class StructuredOutputTest : public ::testing::Test {
 protected:
  grammar::GrammarPtr Compile(const ConstraintSpec& spec) {
    auto g = compiler_.Compile(spec);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? *g : nullptr;
  }
  grammar::GrammarPtr CompileTag(const json& format) {
    return Compile(StructuralTagSpec(format, "test"));
  }

  GrammarConstraintCompiler compiler_{ByteVocabulary()};
};

TEST_F(StructuredOutputTest, EachRequestKindCompilesToItsLanguage) {
  auto schema = Compile(*ParseGuidedField("guided_json", json::parse(R"({"type": "object",
      "properties": {"n": {"type": "integer"}}, "required": ["n"]})")));
  EXPECT_TRUE(Matches(schema, R"({"n": 12})"));
  EXPECT_FALSE(Matches(schema, R"({"n": "12"})"));
  auto object = Compile(**ParseResponseFormat({{"type", "json_object"}}));
  EXPECT_TRUE(Matches(object, R"({"any": [1, true]})"));
  EXPECT_FALSE(Matches(object, "[1]"));
  auto regex = Compile(*ParseGuidedField("guided_regex", "[a-c]+\\d"));
  EXPECT_TRUE(Matches(regex, "abca7"));
  EXPECT_FALSE(Matches(regex, "abd7"));
  auto choice = Compile(*ParseGuidedField("guided_choice", json{"yes", "no"}));
  EXPECT_TRUE(Matches(choice, "no"));
  EXPECT_FALSE(Matches(choice, "maybe"));
  auto gbnf = Compile(*ParseStructuredOutputs({{"grammar", "root ::= \"a\" [0-9]{2}"}}));
  EXPECT_TRUE(Matches(gbnf, "a42"));
  EXPECT_FALSE(Matches(gbnf, "a4"));
  // The same source compiles once.
  EXPECT_EQ(Compile(*ParseGuidedField("guided_regex", "[a-c]+\\d")), regex);
}

TEST_F(StructuredOutputTest, CompileErrorsAre400NamingTheField) {
  engine::GenerateRequest req;
  Status st = AttachConstraint(
      &compiler_,
      **ParseResponseFormat(json::parse(
          R"({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "array",
              "uniqueItems": true}}})")),
      &req);
  EXPECT_EQ(HttpStatusFor(st), 400);
  EXPECT_THAT(st.message(), HasSubstr("response_format: "));
  EXPECT_THAT(st.message(), HasSubstr("uniqueItems"));
  st = AttachConstraint(&compiler_, *ParseGuidedField("guided_regex", "(a)\\1"), &req);
  EXPECT_EQ(HttpStatusFor(st), 400);
  EXPECT_THAT(st.message(), HasSubstr("guided_regex: "));
  st = AttachConstraint(&compiler_, StructuralTagSpec({{"type", "nope"}}, "response_format"), &req);
  EXPECT_EQ(st.message(),
            "response_format: format.type \"nope\" is not a structural tag format (const_string, "
            "json_schema, regex, grammar, any_text, sequence, or, tag, tags_with_separator, "
            "triggered_tags)");
  EXPECT_EQ(req.constraint, nullptr);
  ASSERT_TRUE(
      AttachConstraint(&compiler_, *ParseGuidedField("guided_choice", json{"a"}), &req).ok());
  EXPECT_NE(req.constraint, nullptr);
}

// A tag whose content is any text may not contain its end early, however the text around the
// end's first character looks.
TEST_F(StructuredOutputTest, AnyTextInATagNeverContainsTheEnd) {
  auto g = CompileTag({{"type", "tag"},
                       {"begin", "<think>"},
                       {"content", {{"type", "any_text"}}},
                       {"end", "</think>"}});
  for (const char* ok :
       {"<think></think>", "<think>a<b</c</th</thinking></think>", "<think><<</<</thin></think>",
        "<think>x</thin</think>", "<think>\xe4\xbd\xa0</think>"}) {
    EXPECT_TRUE(Matches(g, ok)) << ok;
  }
  EXPECT_TRUE(Matches(g, "<think>x<</think>"));
  EXPECT_FALSE(Matches(g, "<think>a</think>b</think>"));
  EXPECT_FALSE(Matches(g, "<think>a</think"));
  // An end whose first character comes back later cannot be written without recursion.
  auto bad = compiler_.Compile(StructuralTagSpec(
      {{"type", "tag"}, {"begin", "["}, {"content", {{"type", "any_text"}}}, {"end", "]x]"}}, "t"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("format.content: \"]x]\" has the character \"]\""));
}

TEST_F(StructuredOutputTest, TriggeredTagsAllowFreeTextAndTagsAtTheirTriggers) {
  // vLLM's older structural_tag form.
  auto spec = ParseResponseFormat(json::parse(R"({"type": "structural_tag",
      "structures": [{"begin": "<function=f>", "schema": {"type": "object",
        "properties": {"a": {"type": "integer"}}, "required": ["a"]}, "end": "</function>"}],
      "triggers": ["<function="]})"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto g = Compile(**spec);
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(Matches(g, "plain text < only"));
  EXPECT_TRUE(Matches(g,
                      "call <function=f>{\"a\": 1}</function> and again"
                      "<function=f>{\"a\": 2}</function>"));
  EXPECT_FALSE(Matches(g, "<function=g>{\"a\": 1}</function>"));
  EXPECT_FALSE(Matches(g, "<function=f>{\"a\": \"x\"}</function>"));
}

// tool_choice required / named: calls to the allowed functions only, arguments per the schema,
// in each family's syntax, and its parser reads the admitted text back as those calls.
TEST_F(StructuredOutputTest, ToolChoiceAdmitsOnlyValidCallsThatTheParserReadsBack) {
  const ordered_json body = ordered_json::parse(R"({"tools": [
      {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": false}}},
      {"type": "function", "function": {"name": "get_time"}}]})");
  struct Family {
    const ToolCallFormat* format;
    std::string one, two, wrong_args, wrong_name;
  };
  const std::string weather = R"({"name": "get_weather", "arguments": {"city": "Paris"}})";
  const std::string time = R"({"name": "get_time", "arguments": {}})";
  const std::vector<Family> families = {
      {&HermesToolCallFormat(), "<tool_call>\n" + weather + "\n</tool_call>",
       "<tool_call>\n" + weather + "\n</tool_call>\n<tool_call>\n" + time + "\n</tool_call>",
       "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Paris\"}}\n"
       "</tool_call>",
       "<tool_call>\n{\"name\": \"rm\", \"arguments\": {}}\n</tool_call>"},
      {&Llama3JsonToolCallFormat(), R"({"name": "get_weather", "parameters": {"city": "Paris"}})",
       R"({"name": "get_weather", "parameters": {"city": "Paris"}}; )"
       R"({"name": "get_time", "parameters": {}})",
       R"({"name": "get_weather", "parameters": {}})", R"({"name": "rm", "parameters": {}})"},
      {&MistralToolCallFormat(), "[TOOL_CALLS][" + weather + "]",
       "[TOOL_CALLS][" + weather + ", " + time + "]",
       "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": 1}}]",
       "[TOOL_CALLS][{\"name\": \"rm\", \"arguments\": {}}]"},
      {&DeepSeekV31ToolCallFormat(),
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
       "\"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
       "\"Paris\"}<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{}<｜tool▁call▁"
       "end｜><｜tool▁calls▁end｜>",
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": "
       "null}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
       "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>rm<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁"
       "calls▁end｜>"},
  };
  for (const Family& fam : families) {
    SCOPED_TRACE(fam.format->name());
    for (const char* choice : {"required", "named"}) {
      SCOPED_TRACE(choice);
      ordered_json b = body;
      if (std::string(choice) == "required") {
        b["tool_choice"] = "required";
      } else {
        b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
      }
      for (bool parallel : {true, false}) {
        b["parallel_tool_calls"] = parallel;
        auto tools = ParseToolRequest(b);
        ASSERT_TRUE(tools.ok()) << tools.status();
        auto spec = ToolChoiceConstraint(*tools, *fam.format);
        ASSERT_TRUE(spec.has_value());
        EXPECT_EQ(spec->field, "tool_choice");
        auto g = Compile(*spec);
        ASSERT_NE(g, nullptr);
        EXPECT_TRUE(Matches(g, fam.one)) << fam.one;
        // Several calls only for required with parallel calls; a named function is one call.
        const bool several = parallel && std::string(choice) == "required";
        EXPECT_EQ(Matches(g, fam.two), several) << fam.two;
        EXPECT_FALSE(Matches(g, fam.wrong_args)) << fam.wrong_args;
        EXPECT_FALSE(Matches(g, fam.wrong_name)) << fam.wrong_name;
        EXPECT_FALSE(Matches(g, "I'd rather not."));
        EXPECT_FALSE(Matches(g, ""));

        ChatOutputOptions o;
        o.tool_format = fam.format;
        ChatOutputParser parser(o);
        ChatMessage m;
        m.Add(parser.FeedLast(fam.one));
        ASSERT_EQ(m.tool_calls.size(), 1u);
        EXPECT_EQ(m.tool_calls[0].name, "get_weather");
        EXPECT_EQ(json::parse(m.tool_calls[0].arguments), json({{"city", "Paris"}}));
        EXPECT_EQ(m.content, "");
      }
    }
  }
}

// A thinking model's constraint starts after its think block, which the prompt may have opened.
TEST_F(StructuredOutputTest, ThinkingModelsReasonFreelyThenFollowTheConstraint) {
  const ConstraintSpec choice = *ParseGuidedField("guided_choice", json{"yes", "no"});
  auto open = Compile(AfterReasoning(choice, ReasoningStart::kOpen));
  EXPECT_TRUE(Matches(open, "hmm, <b>yes</b>?</think>\n\nyes"));
  EXPECT_FALSE(Matches(open, "hmm</think>maybe"));
  EXPECT_FALSE(Matches(open, "a</think>no</think>no"));
  auto may = Compile(AfterReasoning(choice, ReasoningStart::kMayOpen));
  EXPECT_TRUE(Matches(may, "<think>x</think>no"));
  EXPECT_TRUE(Matches(may, "no"));
  EXPECT_FALSE(Matches(may, "x</think>no"));
  EXPECT_EQ(AfterReasoning(choice, ReasoningStart::kClosed), choice);
}

}  // namespace
}  // namespace mies::server
