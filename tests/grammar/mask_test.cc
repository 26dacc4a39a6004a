// The cached mask against brute force on a vocabulary whose tokens straddle rule boundaries
// ("1]", "\"},", ...), where the mask cache has to defer to the real parse stack.
#include <gtest/gtest.h>

#include <random>

#include "grammar_test_util.h"

namespace mies::grammar {
namespace {

using testing::MaskErrors;
using testing::MustCompile;

std::shared_ptr<const Vocabulary> StraddlingVocabulary() {
  return testing::ByteVocabulary(
      {"{\"",   "\":",   "\",", "\"}",  "}]", "]}", "],", "},", "1]",    "1}", "1,",    ", \"",
       "true}", "null]", "\"]", "[[",   "]]", "{}", "[]", " {", "\"a\"", "ab", "\":\"", "\"},{\"",
       "12",    "0.5]",  "e3}", "\"\"", "))", "()", "(1", "1)", ") ",    " (", "x\"",   "a\",\"b"});
}

// Random walks (uniform over allowed tokens) with the mask checked against brute force at
// every step; returns the number of steps checked.
int WalkAndCheck(const GrammarPtr& g, int walks, int steps, uint32_t seed) {
  const int32_t n = g->vocabulary().size();
  std::mt19937 rng(seed);
  int checked = 0;
  for (int w = 0; w < walks; ++w) {
    Matcher m(g, {testing::kByteEos});
    std::vector<uint64_t> mask(Matcher::BitmaskWords(n));
    for (int step = 0; step < steps && !m.IsTerminated(); ++step) {
      const std::vector<int32_t> wrong = MaskErrors(m, n);
      EXPECT_EQ(wrong, std::vector<int32_t>{}) << "walk " << w << " step " << step;
      if (!wrong.empty()) return checked;
      ++checked;
      std::vector<int32_t> allowed;
      m.FillNextTokenBitmask(mask);
      for (int32_t id = 0; id < n; ++id) {
        // Skip most of the plain bytes so multi-byte tokens get their turn.
        if (Matcher::IsSet(mask, id) && id != testing::kByteEos && (id > 256 || rng() % 8 == 0)) {
          allowed.push_back(id);
        }
      }
      if (allowed.empty()) {
        for (int32_t id = 0; id < n; ++id) {
          if (Matcher::IsSet(mask, id) && id != testing::kByteEos) allowed.push_back(id);
        }
      }
      if (allowed.empty()) break;
      EXPECT_TRUE(m.Accept(allowed[rng() % allowed.size()]).ok());
    }
  }
  return checked;
}

TEST(MaskTest, ExactOnRecursiveJson) {
  auto g = MustCompile(CompileJsonObject(StraddlingVocabulary()));
  EXPECT_GT(WalkAndCheck(g, 20, 40, 1), 200);
}

TEST(MaskTest, ExactOnRecursiveSchema) {
  auto g = MustCompile(CompileJsonSchemaText(
      R"({"$defs":{"t":{"type":"object","properties":{"a":{"type":"number"},
          "k":{"type":"array","items":{"$ref":"#/$defs/t"}}},"required":["k"]}},
          "$ref":"#/$defs/t"})",
      StraddlingVocabulary()));
  EXPECT_GT(WalkAndCheck(g, 40, 40, 2), 200);
}

TEST(MaskTest, ExactOnGbnfRecursion) {
  auto g = MustCompile(CompileGrammarText(R"gbnf(root ::= e
e ::= "(" e ")" | "(" ")" | [0-9]+ | e2
e2 ::= "[" e? "]" " "?)gbnf",
                                          StraddlingVocabulary()));
  EXPECT_GT(WalkAndCheck(g, 20, 30, 3), 100);
}

TEST(MaskTest, ExactOnFlatSchema) {
  auto g = MustCompile(CompileJsonSchemaText(
      R"({"type":"object","properties":{"a":{"type":"string","maxLength":3},
          "b":{"type":"array","items":{"type":"integer","minimum":1,"maximum":12}}}})",
      StraddlingVocabulary()));
  EXPECT_GT(WalkAndCheck(g, 60, 30, 4), 100);
}

// A rule that is called but calls nothing runs on the plain-DFA classification path.
TEST(MaskTest, ExactOnCalledRuleWithoutCalls) {
  Grammar g;
  const int root = g.AddRule("root");
  const int item = g.AddRule(
      "item",
      Alt({Plus(Chars({{'0', '9'}})), Seq({Lit("\""), Star(Chars({{'a', 'b'}})), Lit("\"")})}),
      /*keep_rule=*/true);
  g.rules[root] =
      Seq({Lit("["), Ref(item), Star(Seq({Lit(","), Ref(item)})), Lit("]"), Opt(Lit(" "))});
  g.root = root;
  auto compiled = MustCompile(CompileGrammar(g, StraddlingVocabulary(), "test"));
  ASSERT_GT(compiled->automaton().rule_start.size(), 1u);  // "item" stayed a rule
  EXPECT_GT(WalkAndCheck(compiled, 40, 30, 5), 150);
}

// A token that finishes an inner rule and goes on in the caller ("1]" after "[[1") is allowed
// only where the stack below says the caller accepts the rest.
TEST(MaskTest, StraddlingTokenDependsOnTheStack) {
  auto vocab = StraddlingVocabulary();
  auto g = MustCompile(CompileJsonObject(vocab));
  const int32_t close_array = 256 + 9;    // "1]"
  const int32_t close_object = 256 + 10;  // "1}"
  ASSERT_EQ(vocab->TokenBytes(close_array), "1]");
  ASSERT_EQ(vocab->TokenBytes(close_object), "1}");
  Matcher in_array(g, {testing::kByteEos});
  for (char c : std::string(R"({"k":[)")) ASSERT_TRUE(in_array.Accept(c).ok());
  Matcher in_object(g, {testing::kByteEos});
  for (char c : std::string(R"({"k":)")) ASSERT_TRUE(in_object.Accept(c).ok());
  std::vector<uint64_t> mask(Matcher::BitmaskWords(vocab->size()));
  in_array.FillNextTokenBitmask(mask);
  EXPECT_TRUE(Matcher::IsSet(mask, close_array));
  EXPECT_FALSE(Matcher::IsSet(mask, close_object));
  in_object.FillNextTokenBitmask(mask);
  EXPECT_FALSE(Matcher::IsSet(mask, close_array));
  EXPECT_TRUE(Matcher::IsSet(mask, close_object));
}

TEST(MaskTest, DeepNestingCompactsFrames) {
  auto g = MustCompile(CompileJsonObject(testing::ByteVocabulary()));
  Matcher m(g, {testing::kByteEos});
  ASSERT_TRUE(m.Accept('{').ok());
  for (char c : std::string("\"a\":")) ASSERT_TRUE(m.Accept(c).ok());
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(m.Accept('[').ok()) << i;
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(m.Accept(']').ok()) << i;
  ASSERT_TRUE(m.Accept('}').ok());
  EXPECT_TRUE(m.IsTerminated());
}

}  // namespace
}  // namespace mies::grammar
