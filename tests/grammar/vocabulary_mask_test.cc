// Vocabularies of real tokenizers (byte-level BPE: qwen3, llama3, gpt4o; SentencePiece-style:
// mistral-7b, gemma3, stories260K) and the token mask on them: the bytes of a token sequence
// spell its decoded text, a tokenized valid answer is allowed token by token, and the cached mask
// equals a brute-force check of every token at sampled states.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "grammar_test_util.h"
#include "schema_validator.h"
#include "support/shared_data.h"
#include "tokenizer/fixtures.h"

namespace mies::grammar {
namespace {

using tokenizer::testing::Corpus;
using tokenizer::testing::ReferenceTokenizers;

const char* kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "color": {"enum": ["red", "green", "blue"]},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4}
  },
  "required": ["name", "age", "color", "tags"],
  "additionalProperties": false
})";
const char* kAnswer =
    R"({"name": "Ada Lovelace, née Byron", "age": 36, "color": "green", "tags": ["math", "poetry"]})";

bool HaveShared() { return std::filesystem::exists(std::string(MIES_SHARED_DIR) + "/tokenizers"); }

struct Loaded {
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::shared_ptr<const Vocabulary> vocab;
};

const Loaded& Load(const std::string& name) {
  static std::map<std::string, Loaded> cache;
  Loaded& l = cache[name];
  if (!l.tokenizer) {
    auto t = tokenizer::Tokenizer::Load(ReferenceTokenizers().at(name));
    EXPECT_TRUE(t.ok()) << t.status();
    l.tokenizer = std::shared_ptr<const tokenizer::Tokenizer>(std::move(t).value());
    auto v = SharedVocabulary(l.tokenizer);
    EXPECT_TRUE(v.ok()) << v.status();
    l.vocab = *v;
  }
  return l;
}

class RealVocabularyTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { MIES_REQUIRE_SHARED_DATA(HaveShared(), "shared tokenizers"); }
};

TEST_P(RealVocabularyTest, TokenBytesSpellTheDecodedText) {
  const Loaded& l = Load(GetParam());
  int checked = 0;
  for (const std::string& line : Corpus()) {
    auto ids = l.tokenizer->Encode(line, /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok());
    std::string bytes;
    for (int id : *ids) {
      if (!l.tokenizer->IsSpecial(id)) bytes += l.vocab->TokenBytes(id);
    }
    if (l.vocab->strips_leading_space() && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
    tokenizer::DecodeOptions o;
    o.skip_special_tokens = true;
    o.clean_up_tokenization_spaces = false;
    EXPECT_EQ(bytes, l.tokenizer->Decode(*ids, o)) << GetParam() << ": " << line;
    ++checked;
  }
  EXPECT_GT(checked, 10);
  for (int id : l.tokenizer->eos_ids()) EXPECT_TRUE(l.vocab->TokenBytes(id).empty()) << id;
}

TEST_P(RealVocabularyTest, TokenizedAnswerIsAllowedAndMaskIsExact) {
  const Loaded& l = Load(GetParam());
  auto g = testing::MustCompile(CompileJsonSchemaText(kSchema, l.vocab));
  ASSERT_TRUE(g);
  std::vector<int32_t> eos(l.tokenizer->eos_ids().begin(), l.tokenizer->eos_ids().end());
  Matcher m(g, eos);
  auto ids = l.tokenizer->Encode(kAnswer, /*add_special_tokens=*/false);
  ASSERT_TRUE(ids.ok());
  const int32_t n = l.vocab->size();
  std::vector<uint64_t> mask(Matcher::BitmaskWords(n));
  // Brute force costs a matcher copy per token: every step on small vocabularies, a few steps
  // (first, inside strings, numbers, structure) on the big ones.
  const size_t every = n > 50000 ? 7 : 1;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i % every == 0) {
      EXPECT_EQ(testing::MaskErrors(m, n), std::vector<int32_t>{}) << GetParam() << " step " << i;
    }
    m.FillNextTokenBitmask(mask);
    ASSERT_TRUE(Matcher::IsSet(mask, (*ids)[i]))
        << GetParam() << ": token " << i << " \"" << l.vocab->TokenBytes((*ids)[i]) << "\"";
    ASSERT_TRUE(m.Accept((*ids)[i]).ok());
  }
  EXPECT_TRUE(m.IsTerminated());
  EXPECT_EQ(m.FillNextTokenBitmask(mask), static_cast<int64_t>(eos.size()));
}

// Random walks through the allowed tokens: every state they reach has an exact mask.
TEST_P(RealVocabularyTest, RandomWalksKeepAnExactMask) {
  const Loaded& l = Load(GetParam());
  const int32_t n = l.vocab->size();
  const std::vector<int32_t> eos(l.tokenizer->eos_ids().begin(), l.tokenizer->eos_ids().end());
  std::mt19937 rng(7);
  for (const bool object_mode : {false, true}) {
    auto g = testing::MustCompile(object_mode ? CompileJsonObject(l.vocab)
                                              : CompileJsonSchemaText(kSchema, l.vocab));
    ASSERT_TRUE(g);
    Matcher m(g, eos);
    std::vector<uint64_t> mask(Matcher::BitmaskWords(n));
    const int checks = n > 50000 ? 3 : 12;
    for (int step = 0; step < 60 && !m.IsTerminated(); ++step) {
      if (step % (60 / checks) == 0) {
        EXPECT_EQ(testing::MaskErrors(m, n), std::vector<int32_t>{})
            << GetParam() << (object_mode ? " json_object" : " schema") << " step " << step;
      }
      // Prefer short tokens so the walk leaves strings now and then.
      std::vector<int32_t> allowed;
      ASSERT_GT(m.FillNextTokenBitmask(mask), 0);
      for (int32_t id = 0; id < n; ++id) {
        if (Matcher::IsSet(mask, id) && l.vocab->TokenBytes(id).size() <= 2) allowed.push_back(id);
      }
      if (allowed.empty()) {
        for (int32_t id = 0; id < n; ++id) {
          if (Matcher::IsSet(mask, id)) allowed.push_back(id);
        }
      }
      const int32_t pick = allowed[rng() % allowed.size()];
      ASSERT_TRUE(m.Accept(pick).ok());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, RealVocabularyTest,
                         ::testing::Values("qwen3", "llama3", "gpt4o", "mistral-7b", "gemma3",
                                           "stories260K"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(RealVocabularyFlagsTest, SentencePieceStripsTheLeadingSpace) {
  MIES_REQUIRE_SHARED_DATA(HaveShared(), "shared tokenizers");
  EXPECT_TRUE(Load("mistral-7b").vocab->strips_leading_space());
  EXPECT_TRUE(Load("stories260K").vocab->strips_leading_space());
  EXPECT_FALSE(Load("qwen3").vocab->strips_leading_space());
  EXPECT_FALSE(Load("gemma3").vocab->strips_leading_space());
  const auto& mistral = Load("mistral-7b");
  EXPECT_EQ(mistral.vocab->TokenBytes(mistral.tokenizer->TokenToId("<0x0A>")), "\n");
  EXPECT_EQ(mistral.vocab->TokenBytes(mistral.tokenizer->TokenToId("\xE2\x96\x81the")), " the");
  const auto& qwen = Load("qwen3");
  EXPECT_EQ(qwen.vocab->TokenBytes(qwen.tokenizer->TokenToId("\xC4\xA0the")), " the");
  EXPECT_EQ(qwen.vocab->size(), qwen.tokenizer->vocab_size());
  // SharedVocabulary builds once per tokenizer.
  EXPECT_EQ(SharedVocabulary(qwen.tokenizer)->get(), qwen.vocab.get());
}

// A choice on a SentencePiece vocabulary: "▁yes" as the first token is allowed (the client sees
// "yes"), later a space is a real character.
TEST(RealVocabularyFlagsTest, FirstTokenSpaceIsStrippedOnSentencePiece) {
  MIES_REQUIRE_SHARED_DATA(HaveShared(), "shared tokenizers");
  const auto& l = Load("mistral-7b");
  auto g = testing::MustCompile(CompileChoice({"yes", "no"}, l.vocab));
  Matcher m(g, {2});
  const int32_t yes = l.tokenizer->TokenToId("\xE2\x96\x81yes");
  ASSERT_GE(yes, 0);
  std::vector<uint64_t> mask(Matcher::BitmaskWords(l.vocab->size()));
  m.FillNextTokenBitmask(mask);
  EXPECT_TRUE(Matcher::IsSet(mask, yes));
  EXPECT_EQ(testing::MaskErrors(m, l.vocab->size()), std::vector<int32_t>{});
  ASSERT_TRUE(m.Accept(yes).ok());
  EXPECT_TRUE(m.IsTerminated());
  Matcher m2(g, {2});
  const int32_t y = l.tokenizer->TokenToId("y");
  ASSERT_TRUE(m2.Accept(y).ok());
  m2.FillNextTokenBitmask(mask);
  EXPECT_FALSE(Matcher::IsSet(mask, l.tokenizer->TokenToId("\xE2\x96\x81"
                                                           "es")));
  EXPECT_EQ(testing::MaskErrors(m2, l.vocab->size()), std::vector<int32_t>{});
}

}  // namespace
}  // namespace mies::grammar

namespace mies::grammar {
namespace {

// Walks that pick any allowed token never meet a state no token continues: on a schema with
// bounded strings and arrays, a date and an integer range they finish (EOS only when complete);
// on a recursive grammar that can always go on they stay open.
// llama.cpp's json.gbnf, one object per line: a recursive grammar that never has to end.
const char* kJsonLines = R"gbnf(root ::= (object "\n")+
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
)gbnf";

const char* kBoundedSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 8},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "color": {"enum": ["red", "green", "blue"]},
    "ok": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 3},
    "day": {"type": "string", "format": "date"}
  },
  "required": ["name", "age", "color", "tags"],
  "additionalProperties": false
})";

TEST_P(RealVocabularyTest, RandomWalksNeverDeadEnd) {
  const Loaded& l = Load(GetParam());
  const int32_t n = l.vocab->size();
  const std::vector<int32_t> eos(l.tokenizer->eos_ids().begin(), l.tokenizer->eos_ids().end());
  auto g = testing::MustCompile(CompileJsonSchemaText(kBoundedSchema, l.vocab));
  ASSERT_TRUE(g);
  std::mt19937 rng(11);
  std::vector<uint64_t> mask(Matcher::BitmaskWords(n));
  for (int walk = 0; walk < 12; ++walk) {
    Matcher m(g, eos);
    std::string text;
    int step = 0;
    for (; step < 2000 && !m.IsTerminated(); ++step) {
      std::vector<int32_t> allowed;
      ASSERT_GT(m.FillNextTokenBitmask(mask), 0)
          << GetParam() << " walk " << walk << " dead end after \"" << text << "\"";
      for (int32_t id = 0; id < n; ++id) {
        if (Matcher::IsSet(mask, id)) allowed.push_back(id);
      }
      const int32_t pick = allowed[rng() % allowed.size()];
      text += l.vocab->TokenBytes(pick);
      ASSERT_TRUE(m.Accept(pick).ok());
    }
    EXPECT_TRUE(m.IsTerminated()) << text;
  }
  auto lines = testing::MustCompile(CompileGrammarText(kJsonLines, l.vocab));
  ASSERT_TRUE(lines);
  for (int walk = 0; walk < 4; ++walk) {
    Matcher m(lines, eos);
    std::string text;
    for (int step = 0; step < 100; ++step) {
      std::vector<int32_t> allowed;
      ASSERT_GT(m.FillNextTokenBitmask(mask), 0) << GetParam() << " walk " << walk;
      for (int32_t id = 0; id < n; ++id) {
        if (Matcher::IsSet(mask, id) && !std::count(eos.begin(), eos.end(), id)) {
          allowed.push_back(id);
        }
      }
      ASSERT_FALSE(allowed.empty())
          << GetParam() << " walk " << walk << " dead end after \"" << text << "\"";
      const int32_t pick = allowed[rng() % allowed.size()];
      text += l.vocab->TokenBytes(pick);
      ASSERT_TRUE(m.Accept(pick).ok());
      ASSERT_FALSE(m.IsTerminated()) << text;
    }
  }
}

}  // namespace
}  // namespace mies::grammar
