// JSON Schema coverage: for each keyword, texts the grammar must accept and texts it must
// reject (fed byte by byte, the mask checked against Accept at every byte), and the errors for
// what is not supported.
#include "grammar/json_schema.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "grammar_test_util.h"

namespace mies::grammar {
namespace {

using testing::ByteVocabulary;
using testing::Matches;

struct Case {
  std::string name;
  std::string schema;
  std::vector<std::string> accepted;
  std::vector<std::string> rejected;
};

class JsonSchemaKeywordTest : public ::testing::TestWithParam<Case> {};

TEST_P(JsonSchemaKeywordTest, AcceptsValidAndRejectsInvalidTexts) {
  const Case& c = GetParam();
  auto g = CompileJsonSchemaText(c.schema, ByteVocabulary());
  ASSERT_TRUE(g.ok()) << g.status();
  for (const std::string& text : c.accepted) EXPECT_TRUE(Matches(*g, text)) << text;
  for (const std::string& text : c.rejected) EXPECT_FALSE(Matches(*g, text)) << text;
}

const Case kCases[] = {
    {"TypeString",
     R"({"type":"string"})",
     {R"("")", R"("abc")", R"("a\"b")", R"("\u00e9\n")", "\"\xC3\xA9\"", R"("\ud83d\ude00")"},
     {R"(abc)", R"("abc)", "\"a\nb\"", R"("\ud83d")", R"("\x")", "\"\xC3\"", R"(1)"}},
    {"TypeInteger",
     R"({"type":"integer"})",
     {"0", "-1", "42", "-900"},
     {"01", "1.5", "-", "+1", "1e3", "\"1\"", "00"}},
    {"TypeNumber",
     R"({"type":"number"})",
     {"0", "-1.5", "3.25e-7", "1E+2", "12"},
     {"01", ".5", "1.", "1e", "--1", "NaN"}},
    {"TypeBoolean", R"({"type":"boolean"})", {"true", "false"}, {"True", "1", "null"}},
    {"TypeNull", R"({"type":"null"})", {"null"}, {"nil", "\"null\""}},
    {"TypeUnion", R"({"type":["integer","null"]})", {"3", "null"}, {"\"3\"", "true"}},
    {"Properties",
     R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}}})",
     {"{}", R"({"a":1})", R"({"b":"x"})", R"({"a":1,"b":"x"})", R"({ "a" : 1 , "b" : "x" })",
      "{\n  \"a\": 1,\n  \"b\": \"x\"\n}"},
     {R"({"a":"1"})", R"({"b":"x","a":1})", R"({"c":1})", R"({"a":1,})", R"({"a":1 "b":"x"})"}},
    {"Required",
     R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},
         "required":["b"]})",
     {R"({"b":2})", R"({"a":1,"b":2})"},
     {"{}", R"({"a":1})"}},
    {"AdditionalPropertiesFalse",
     R"({"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false})",
     {"{}", R"({"a":1})"},
     {R"({"a":1,"z":2})", R"({"z":2})"}},
    {"AdditionalPropertiesSchemaMap",
     R"({"type":"object","additionalProperties":{"type":"integer"}})",
     {"{}", R"({"x":1})", R"({"x":1,"y":-2})"},
     {R"({"x":"1"})", R"({"x":1,})"}},
    {"EmptyObjectOnly",
     R"({"type":"object","additionalProperties":false})",
     {"{}", "{ }"},
     {R"({"a":1})"}},
    {"Enum",
     R"({"enum":["red","green",3,null]})",
     {R"("red")", R"("green")", "3", "null"},
     {R"("blue")", R"("re")", "4", "\"3\""}},
    {"EnumFilteredByType", R"({"type":"string","enum":["a",1]})", {R"("a")"}, {"1"}},
    {"Const", R"({"const":{"k":[1,"x"]}})", {R"({"k":[1,"x"]})"}, {R"({"k":[1]})", "{}"}},
    {"AnyOf",
     R"({"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]})",
     {"5", R"("a")"},
     {R"("ab")", "true"}},
    {"OneOf", R"({"oneOf":[{"type":"boolean"},{"type":"null"}]})", {"true", "null"}, {"0"}},
    {"RefDefs",
     R"({"$defs":{"pt":{"type":"object","properties":{"x":{"type":"integer"}},"required":["x"]}},
         "type":"array","items":{"$ref":"#/$defs/pt"}})",
     {"[]", R"([{"x":1}])", R"([{"x":1},{"x":2}])"},
     {R"([{"y":1}])", R"([{}])"}},
    {"RefRecursive",
     R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
         "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},
         "$ref":"#/$defs/node"})",
     {R"({"v":1})", R"({"v":1,"kids":[]})", R"({"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]})"},
     {R"({"v":1,"kids":[{"kids":[]}]})", R"({"kids":[]})"}},
    {"DefinitionsAndRootRef",
     R"({"definitions":{"s":{"type":"string"}},"type":"object",
         "properties":{"a":{"$ref":"#/definitions/s"}},"required":["a"]})",
     {R"({"a":"x"})"},
     {R"({"a":1})"}},
    {"Items",
     R"({"type":"array","items":{"type":"boolean"}})",
     {"[]", "[true]", "[true, false]"},
     {"[1]", "[true,]", "[,true]"}},
    {"MinMaxItems",
     R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":2})",
     {"[1]", "[1,2]"},
     {"[]", "[1,2,3]"}},
    {"PrefixItems",
     R"({"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}],"items":false})",
     {"[]", "[1]", R"([1,"a"])"},
     {R"(["a"])", R"([1,"a",2])"}},
    {"MinMaxLength",
     R"({"type":"string","minLength":2,"maxLength":3})",
     {R"("ab")", R"("abc")", R"("a\n")", "\"\xC3\xA9\xC3\xA9\""},
     {R"("a")", R"("abcd")", R"("")"}},
    {"Pattern",
     R"({"type":"string","pattern":"^[a-z]+-[0-9]{2}$"})",
     {R"("ab-12")"},
     {R"("ab-1")", R"("Ab-12")", R"("ab-123")"}},
    {"PatternUnanchored",
     R"({"type":"string","pattern":"x\\d"})",
     {R"("x1")", R"("aax2bb")"},
     {R"("xx")", R"("")"}},
    {"PatternNeedsEscapes",
     R"({"type":"string","pattern":"^a\"b\\\\c$"})",
     {R"("a\"b\\c")"},
     {"\"a\"b\\c\""}},
    {"IntegerMinimumMaximum",
     R"({"type":"integer","minimum":-5,"maximum":120})",
     {"-5", "-1", "0", "9", "10", "99", "100", "120"},
     {"-6", "121", "200", "1000", "-10"}},
    {"IntegerMinimumOnly",
     R"({"type":"integer","minimum":18})",
     {"18", "19", "99", "100", "123456"},
     {"17", "0", "-18", "5"}},
    {"IntegerExclusive",
     R"({"type":"integer","exclusiveMinimum":0,"exclusiveMaximum":10})",
     {"1", "9"},
     {"0", "10"}},
    {"IntegerMaximumNegative",
     R"({"type":"integer","maximum":-3})",
     {"-3", "-40"},
     {"-2", "0", "3"}},
    {"NumberIntegralBounds",
     R"({"type":"number","minimum":0,"maximum":1})",
     {"0", "0.5", "1", "1.0", "0.999"},
     {"1.5", "-0.1", "2", "1.01"}},
    {"FormatDate",
     R"({"type":"string","format":"date"})",
     {R"("2024-02-29")"},
     {R"("2024-13-01")", R"("24-01-01")", R"("2024-01-32")"}},
    {"FormatDateTime",
     R"({"type":"string","format":"date-time"})",
     {R"("2024-02-29T23:59:59Z")", R"("2024-02-29T01:02:03.5+05:30")"},
     {R"("2024-02-29 23:59:59Z")", R"("2024-02-29T24:00:00Z")", R"("2024-02-29T23:59:59")"}},
    {"FormatUuid",
     R"({"type":"string","format":"uuid"})",
     {R"("123e4567-e89b-12d3-a456-426614174000")"},
     {R"("123e4567e89b12d3a456426614174000")", R"("123e4567-e89b-12d3-a456-42661417400g")"}},
    {"AllOfSingle", R"({"allOf":[{"type":"integer"}],"description":"x"})", {"1"}, {"\"1\""}},
    {"NoTypeIsAnyValue",
     R"({})",
     {"1", "\"s\"", "[1,{\"a\":[null]}]", "{\"k\":{}}", "true"},
     {"", "[1,]", "{\"k\"}"}},
    {"ImpliedObject",
     R"({"properties":{"a":{"type":"null"}},"required":["a"]})",
     {R"({"a":null})"},
     {"null"}},
    {"WhitespaceBounded",
     R"({"type":"array","items":{"type":"integer"}})",
     {"[ 1 ]", "[\n" + std::string(20, ' ') + "1\n]", "[\n\t\t1,\n\t\t2\n]"},
     {"[\n" + std::string(21, ' ') + "1]", "[  1]", "[\n\n1]", "[ \n1]", "[\r\n1]", " [1]",
      "[1] "}},
};

INSTANTIATE_TEST_SUITE_P(Keywords, JsonSchemaKeywordTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

struct ErrorCase {
  std::string name;
  std::string schema;
  std::string message_part;  // the error must name this
};

class JsonSchemaErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(JsonSchemaErrorTest, RefusesWithAMessageNamingTheCause) {
  const ErrorCase& c = GetParam();
  auto g = CompileJsonSchemaText(c.schema, ByteVocabulary());
  ASSERT_FALSE(g.ok()) << c.schema;
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(g.status().message()).find(c.message_part), std::string::npos)
      << g.status();
}

const ErrorCase kErrors[] = {
    {"UniqueItems", R"({"type":"array","uniqueItems":true})", "\"uniqueItems\""},
    {"PatternProperties", R"({"type":"object","patternProperties":{"^a":{}}})",
     "\"patternProperties\""},
    {"NestedUnsupported",
     R"({"type":"object","properties":{"x":{"type":"integer","multipleOf":2}}})",
     "#/properties/x: keyword \"multipleOf\""},
    {"FormatEmail", R"({"type":"string","format":"email"})", "format \"email\""},
    {"RemoteRef", R"({"$ref":"http://example.com/s.json"})", "only local"},
    {"MissingRef", R"({"$ref":"#/$defs/nope"})", "points to nothing"},
    {"AllOfTwo", R"({"allOf":[{"type":"integer"},{"minimum":1}]})", "allOf"},
    {"NumberFractionalBound", R"({"type":"number","minimum":0.5})", "only integral bounds"},
    {"PatternLookahead", R"({"type":"string","pattern":"(?=a)a"})", "lookaround"},
    {"PatternWithLength", R"({"type":"string","pattern":"a","maxLength":3})", "cannot be combined"},
    {"FalseSchema", R"({"type":"object","properties":{"a":false},"required":["a"]})",
     "schema false"},
    {"EmptyIntegerRange", R"({"type":"integer","minimum":5,"maximum":1})", "is empty"},
    {"UnknownType", R"({"type":"date"})", "unknown type \"date\""},
    {"NotJson", R"({"type":)", "not valid JSON"},
    {"MinItemsOverPrefix", R"({"prefixItems":[{}],"items":false,"minItems":2})", "minItems 2"},
};

INSTANTIATE_TEST_SUITE_P(Unsupported, JsonSchemaErrorTest, ::testing::ValuesIn(kErrors),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) {
                           return info.param.name;
                         });

TEST(JsonSchemaTest, JsonObjectModeAcceptsAnyObjectOnly) {
  auto g = CompileJsonObject(ByteVocabulary());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Matches(*g, "{}"));
  EXPECT_TRUE(Matches(*g, R"({"a":[1,2,{"b":null}],"c":"d"})"));
  const std::string deep = "{\"deep\":" + std::string(40, '[') + "1" + std::string(40, ']') + "}";
  EXPECT_TRUE(Matches(*g, deep));
  EXPECT_FALSE(Matches(*g, deep.substr(0, deep.size() - 2) + "}"));
  EXPECT_FALSE(Matches(*g, "[]"));
  EXPECT_FALSE(Matches(*g, "1"));
  EXPECT_FALSE(Matches(*g, R"({"a":})"));
}

TEST(JsonSchemaTest, JsonTypeKeepsPropertyOrderOfOrderedJson) {
  const auto schema = nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"z":{"type":"integer"},"a":{"type":"integer"}},
          "required":["z","a"]})");
  auto ordered = CompileJsonSchema(schema, ByteVocabulary());
  ASSERT_TRUE(ordered.ok());
  EXPECT_TRUE(Matches(*ordered, R"({"z":1,"a":2})"));
  EXPECT_FALSE(Matches(*ordered, R"({"a":2,"z":1})"));
  // nlohmann::json sorts keys: the same schema generates "a" first.
  auto sorted = CompileJsonSchema(nlohmann::json::parse(schema.dump()), ByteVocabulary());
  ASSERT_TRUE(sorted.ok());
  EXPECT_TRUE(Matches(*sorted, R"({"a":2,"z":1})"));
}

TEST(JsonSchemaTest, ManyOptionalPropertiesCompile) {
  nlohmann::ordered_json schema = {{"type", "object"}};
  for (int i = 0; i < 30; ++i) {
    schema["properties"]["p" + std::to_string(i)] = {{"type", "integer"}};
  }
  auto g = CompileJsonSchema(schema, ByteVocabulary());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Matches(*g, R"({"p3":1,"p17":2,"p29":3})"));
  EXPECT_FALSE(Matches(*g, R"({"p17":2,"p3":1})"));
}

TEST(JsonSchemaTest, LargeCountsFailWithALimitMessage) {
  auto g = CompileJsonSchemaText(
      R"({"type":"array","maxItems":100000,"items":{"type":"string","maxLength":100000}})",
      ByteVocabulary());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(std::string(g.status().message()).find("too large"), std::string::npos) << g.status();
}

}  // namespace
}  // namespace mies::grammar
