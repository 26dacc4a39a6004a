// The other front ends: regular expressions (full match), choices and GBNF grammar text.
#include <gtest/gtest.h>

#include "grammar/gbnf_parser.h"
#include "grammar/regex_parser.h"
#include "grammar_test_util.h"

namespace mies::grammar {
namespace {

using testing::ByteVocabulary;
using testing::Matches;
using testing::MustCompile;

TEST(RegexTest, MatchesTheWholeText) {
  auto g = MustCompile(CompileRegex(R"((\+|-)?[0-9]{1,3}(\.[0-9]+)?)", ByteVocabulary()));
  for (const char* ok : {"1", "-12", "+999.25"}) EXPECT_TRUE(Matches(g, ok)) << ok;
  for (const char* bad : {"", "1234", "1.", "a1", "1a", "--1"})
    EXPECT_FALSE(Matches(g, bad)) << bad;
}

TEST(RegexTest, ClassesEscapesAndAnchors) {
  auto g = MustCompile(CompileRegex(R"(^\w+@[^\s@]+\.(com|org)$)", ByteVocabulary()));
  EXPECT_TRUE(Matches(g, "a_b@x.com"));
  EXPECT_TRUE(Matches(g, "z@\xC3\xA9.org"));  // [^\s@] takes any non-space character
  EXPECT_FALSE(Matches(g, "a b@x.com"));
  EXPECT_FALSE(Matches(g, "a@x.net"));
  auto dot = MustCompile(CompileRegex("a.c", ByteVocabulary()));
  EXPECT_TRUE(Matches(dot,
                      "a\xE2\x82\xAC"
                      "c"));  // '.' is one character, not one byte
  EXPECT_FALSE(Matches(dot, "a\nc"));
  EXPECT_FALSE(Matches(dot, "abbc"));
  auto counted = MustCompile(CompileRegex(R"(x{2,}y{,2}\u0041\x42)", ByteVocabulary()));
  EXPECT_TRUE(Matches(counted, "xxAB"));
  EXPECT_TRUE(Matches(counted, "xxxxyyAB"));
  EXPECT_FALSE(Matches(counted, "xAB"));
  EXPECT_FALSE(Matches(counted, "xxyyyAB"));
  auto literal_brace = MustCompile(CompileRegex(R"(a{b)", ByteVocabulary()));
  EXPECT_TRUE(Matches(literal_brace, "a{b"));
}

TEST(RegexTest, UnsupportedConstructsNameThemselves) {
  const std::pair<const char*, const char*> cases[] = {
      {R"((a)\1)", "backreferences"},
      {"(?=a)a", "lookaround"},
      {R"(\bword)", "word boundaries"},
      {"(?i)abc", "flags"},
      {"a*+", "possessive"},
      {R"(\p{L})", "Unicode property"},
      {"a^b", "'^' is only supported"},
      {"a$b", "'$' is only supported"},
      {"(ab", "missing ')'"},
      {"ab)", "unbalanced ')'"},
      {"[b-a]", "out of order"},
      {"a{3,2}", "m < n"},
      {"x{20000}", "repetition count"},
      {"*a", "nothing to repeat"},
  };
  for (const auto& [pattern, part] : cases) {
    auto g = CompileRegex(pattern, ByteVocabulary());
    ASSERT_FALSE(g.ok()) << pattern;
    EXPECT_NE(std::string(g.status().message()).find(part), std::string::npos)
        << pattern << " -> " << g.status();
  }
}

TEST(RegexTest, SearchPadsUnanchoredSides) {
  auto re = ParseRegex("^ab|cd$");
  ASSERT_TRUE(re.ok());
  Grammar g;
  g.AddRule("root", re->Search(Chars({{'a', 'z'}})));
  auto c = MustCompile(CompileGrammar(g, ByteVocabulary(), "test"));
  EXPECT_TRUE(Matches(c, "abzz"));
  EXPECT_TRUE(Matches(c, "zzcd"));
  EXPECT_FALSE(Matches(c, "zabz"));
}

TEST(ChoiceTest, ExactlyOneOfTheChoices) {
  auto g = MustCompile(CompileChoice({"yes", "no", "not sure", "n"}, ByteVocabulary()));
  for (const char* ok : {"yes", "no", "not sure", "n"}) EXPECT_TRUE(Matches(g, ok)) << ok;
  for (const char* bad : {"", "ye", "yess", "not", "No"}) EXPECT_FALSE(Matches(g, bad)) << bad;
  EXPECT_FALSE(CompileChoice({}, ByteVocabulary()).ok());
}

TEST(ChoiceTest, EndsOnlyWhenNothingCanFollow) {
  auto g = MustCompile(CompileChoice({"no", "not"}, ByteVocabulary()));
  Matcher m(g, {testing::kByteEos});
  ASSERT_TRUE(m.Accept('n').ok());
  ASSERT_TRUE(m.Accept('o').ok());
  EXPECT_TRUE(m.IsComplete());
  EXPECT_FALSE(m.IsTerminated());  // "t" may still follow
  ASSERT_TRUE(m.Accept('t').ok());
  EXPECT_TRUE(m.IsTerminated());
  std::vector<uint64_t> mask(Matcher::BitmaskWords(g->vocabulary().size()));
  EXPECT_EQ(m.FillNextTokenBitmask(mask), 1);  // only EOS
  EXPECT_TRUE(Matcher::IsSet(mask, testing::kByteEos));
  EXPECT_FALSE(m.Accept('x').ok());
  EXPECT_TRUE(m.Accept(testing::kByteEos).ok());
  EXPECT_TRUE(m.ended());
}

TEST(GbnfTest, RecursiveGrammar) {
  const char* text = R"gbnf(
    # balanced parentheses around a number
    root ::= expr
    expr ::= "(" ws expr ws ")" | num
    num  ::= [0-9]+
    ws   ::= [ ]?
  )gbnf";
  auto g = MustCompile(CompileGrammarText(text, ByteVocabulary()));
  for (const char* ok : {"1", "(1)", "((( 42 )))", "( (7))"}) EXPECT_TRUE(Matches(g, ok)) << ok;
  for (const char* bad : {"", "(1", "1)", "((1)", "()", "(  1)"}) {
    EXPECT_FALSE(Matches(g, bad)) << bad;
  }
}

// A repeated recursive rule: complete after each line, never terminated (another may follow).
TEST(GbnfTest, RepeatedRecursiveRuleStaysOpen) {
  const char* text = R"gbnf(root ::= (obj "\n")+
obj ::= "{" ws (obj ws)? "}" ws
ws ::= | " " | "\n" [ \t]{0,3})gbnf";
  auto g = MustCompile(CompileGrammarText(text, ByteVocabulary()));
  for (const char* ok : {"{}\n", "{} \n", "{}\n\n", "{{}}\n{}\n", "{}\n  \n"}) {
    EXPECT_TRUE(Matches(g, ok)) << ok;
    Matcher m(g, {testing::kByteEos});
    for (const char* c = ok; *c != 0; ++c) ASSERT_TRUE(m.Accept(*c).ok());
    EXPECT_TRUE(m.IsComplete()) << ok;
    EXPECT_FALSE(m.IsTerminated()) << ok;
  }
  for (const char* bad : {"{}", "{} ", "{}\n}"}) EXPECT_FALSE(Matches(g, bad)) << bad;
}

TEST(GbnfTest, LlamaCppJsonGrammarStyle) {
  const char* text = R"gbnf(root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws
array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws
string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4})
  )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
)gbnf";
  auto g = MustCompile(CompileGrammarText(text, ByteVocabulary()));
  EXPECT_TRUE(Matches(g, R"({"a": [1, "x", {"b": null}], "c": true} )"));
  EXPECT_FALSE(Matches(g, R"({"a": })"));
}

TEST(GbnfTest, ErrorsNameTheRuleOrLine) {
  const std::pair<const char*, const char*> cases[] = {
      {"root ::= a", "rule 'a' is used but not defined"},
      {"start ::= \"x\"", "no 'root' rule"},
      {"root ::= \"x\"\nroot ::= \"y\"", "defined twice"},
      {"root ::= root \"x\" | \"y\"", "left-recursive"},
      {"root ::= a\na ::= b \"x\"\nb ::= a? \"y\"", "left-recursive"},
      {"root ::= \"x\n\"", "line 1: unterminated string"},
      {"root ::= \"x\"\n  | <[123]>", "line 2: token syntax"},
      {"root ::= [z-a]", "out of order"},
      {"root ::= \"a\" )", "unbalanced"},
      {"root ::= loop\nloop ::= \"x\" loop", "can never end"},
  };
  for (const auto& [text, part] : cases) {
    auto g = CompileGrammarText(text, ByteVocabulary());
    ASSERT_FALSE(g.ok()) << text;
    EXPECT_NE(std::string(g.status().message()).find(part), std::string::npos)
        << text << " -> " << g.status();
  }
}

TEST(GrammarCacheTest, SameSourceSameGrammarAndBounded) {
  GrammarCache cache(ByteVocabulary(), /*capacity=*/2);
  auto a = cache.Get(GrammarKind::kRegex, "a+");
  auto a2 = cache.Get(GrammarKind::kRegex, "a+");
  ASSERT_TRUE(a.ok() && a2.ok());
  EXPECT_EQ(a->get(), a2->get());
  EXPECT_EQ(cache.hits(), 1);
  auto choice = cache.GetChoice({"x", "y"});
  ASSERT_TRUE(choice.ok());
  EXPECT_TRUE(Matches(*choice, "y"));
  ASSERT_TRUE(cache.Get(GrammarKind::kJsonObject, "").ok());
  EXPECT_EQ(cache.size(), 2u);  // "a+" was least recently used
  auto a3 = cache.Get(GrammarKind::kRegex, "a+");
  ASSERT_TRUE(a3.ok());
  EXPECT_NE(a->get(), a3->get());
  EXPECT_FALSE(cache.Get(GrammarKind::kJsonSchema, R"({"type":"set"})").ok());
  EXPECT_FALSE(cache.Get(GrammarKind::kChoice, "not a list").ok());
}

}  // namespace
}  // namespace mies::grammar
