// Structured output through the engine: with random weights (synthetic models) and the trained
// stories260K, a constrained answer parses, validates against its schema and ends when the
// grammar does — greedy and sampled, n > 1, streaming, max_tokens cuts, stop strings, logprobs,
// preemption by recompute and prefix caching; a grammar dead end fails only its request.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "engine/engine_test_util.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "make_model/synthetic_model.h"
#include "model/model_test_util.h"
#include "schema_validator.h"
#include "support/shared_data.h"

namespace mies::engine {
namespace {

using namespace mies::engine::testing;
using grammar::testing::SchemaValidator;

// Bounded strings, numbers and arrays: a random model cannot ramble past them.
const char* kSchema = R"({
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

struct Served {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::shared_ptr<const grammar::Vocabulary> vocab;
  int64_t vocab_size = 0;
};

// A random-weights LLaMA (hidden 64, 2 layers) with the tokenizer of `tokenizer_dir`.
Served RandomModel(const std::string& tokenizer_dir, int64_t vocab_size, int64_t num_blocks,
                   int64_t block_size, EngineOptions options = TestOptions()) {
  // The weights file is mapped by the loaded model: its directory lives as long as the binary.
  static std::vector<std::unique_ptr<model::testing::TempDir>> dirs;
  dirs.push_back(std::make_unique<model::testing::TempDir>());
  model::testing::TempDir* dir = dirs.back().get();
  tools::SyntheticModelSpec spec;
  spec.vocab_size = vocab_size;
  spec.seed = 5;
  spec.tie_word_embeddings = true;
  spec.tokenizer_json = tokenizer_dir + "/tokenizer.json";
  EXPECT_TRUE(tools::WriteSyntheticModel(spec, dir->path()).ok());
  model::ModelOptions mo;
  mo.num_threads = 1;
  static model::IdentityCollective identity;
  auto m = model::LlamaModel::Load(dir->path(), mo, &identity);
  EXPECT_TRUE(m.ok()) << m.status();
  auto runner = runner::ModelRunner::Create(std::move(m).value(), num_blocks, block_size);
  EXPECT_TRUE(runner.ok()) << runner.status();
  Served s;
  auto tok = tokenizer::Tokenizer::Load(tokenizer_dir);
  EXPECT_TRUE(tok.ok()) << tok.status();
  s.tokenizer = std::shared_ptr<const tokenizer::Tokenizer>(std::move(tok).value());
  model::GenerationDefaults defaults;
  for (int id : s.tokenizer->eos_ids()) defaults.eos_token_ids.push_back(id);
  auto e = Engine::Create(std::move(options),
                          std::make_unique<executor::LocalExecutor>(std::move(runner).value()),
                          s.tokenizer, defaults, vocab_size);
  EXPECT_TRUE(e.ok()) << e.status();
  s.engine = std::move(e).value();
  s.vocab = *grammar::SharedVocabulary(s.tokenizer);
  s.vocab_size = vocab_size;
  return s;
}

Served Stories(int64_t num_blocks = 256, int64_t block_size = 16,
               EngineOptions options = TestOptions()) {
  Served s;
  auto e = Engine::Create(std::move(options), StoriesExecutor(num_blocks, block_size),
                          StoriesTokenizer(), StoriesDefaults(), 512);
  EXPECT_TRUE(e.ok()) << e.status();
  s.engine = std::move(e).value();
  s.tokenizer = StoriesTokenizer();
  s.vocab = *grammar::SharedVocabulary(s.tokenizer);
  s.vocab_size = 512;
  return s;
}

GenerateRequest Constrained(const std::string& id, grammar::GrammarPtr g, int64_t max_tokens) {
  GenerateRequest r;
  r.request_id = id;
  r.prompt_ids = Ids(6, 11, 3, 500);
  r.sampling.temperature = 0.0;
  r.stop.max_tokens = max_tokens;
  r.constraint = std::move(g);
  return r;
}

std::map<int, Collector::Seq> Generate(Engine& engine, GenerateRequest req,
                                       RequestOutput* last = nullptr) {
  Collector c;
  Status s = engine.Submit(std::move(req), c.Sink());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(c.Wait(std::chrono::seconds(300)));
  if (last != nullptr) *last = c.Last();
  return c.Sequences();
}

// Parses and validates; returns an error text (empty when fine).
std::string CheckAgainstSchema(const std::string& text, const char* schema) {
  auto v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return "not JSON: " + text;
  const std::string why = SchemaValidator(nlohmann::json::parse(schema)).Validate(v);
  return why.empty() ? "" : why + " in " + text;
}

grammar::GrammarPtr Schema(const Served& s, const char* schema = kSchema) {
  auto g = grammar::CompileJsonSchemaText(schema, s.vocab);
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

class ConstrainedEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MIES_REQUIRE_SHARED_DATA(HaveStories(), "stories260K under " MIES_SHARED_DIR);
  }
  static std::string StoriesTokenizerDir() { return Stories260KDir(); }
  static std::string Qwen3Dir() { return std::string(MIES_SHARED_DIR) + "/tokenizers/qwen3"; }
};

TEST_F(ConstrainedEngineTest, GreedyOutputOfTrainedModelValidates) {
  Served s = Stories();
  auto seqs = Generate(*s.engine, Constrained("g", Schema(s), 400));
  EXPECT_EQ(seqs[0].finish, FinishReason::kStop) << seqs[0].text;
  EXPECT_EQ(CheckAgainstSchema(seqs[0].text, kSchema), "");
}

TEST_F(ConstrainedEngineTest, RandomModelGreedyAndSampledSequencesValidate) {
  Served s = RandomModel(StoriesTokenizerDir(), 512, 256, 16);
  auto g = Schema(s);
  auto greedy = Generate(*s.engine, Constrained("greedy", g, 400));
  EXPECT_EQ(greedy[0].finish, FinishReason::kStop);
  EXPECT_EQ(CheckAgainstSchema(greedy[0].text, kSchema), "");
  GenerateRequest r = Constrained("sampled", g, 400);
  r.sampling.temperature = 1.0;
  r.sampling.seed = 99;
  r.sampling.n = 3;
  r.sampling.best_of = 4;
  auto sampled = Generate(*s.engine, r);
  ASSERT_EQ(sampled.size(), 3u);
  std::set<std::string> texts;
  for (auto& [index, seq] : sampled) {
    EXPECT_EQ(seq.finish, FinishReason::kStop) << index;
    EXPECT_EQ(CheckAgainstSchema(seq.text, kSchema), "") << index;
    texts.insert(seq.text);
  }
  EXPECT_GT(texts.size(), 1u);  // each sequence follows its own draws and its own matcher
}

TEST_F(ConstrainedEngineTest, RandomModelOnByteLevelQwen3VocabularyValidates) {
  MIES_REQUIRE_SHARED_DATA(std::filesystem::exists(Qwen3Dir() + "/tokenizer.json"),
                           "qwen3 tokenizer");
  Served s = RandomModel(Qwen3Dir(), 151936, 256, 16);
  auto g = Schema(s);
  auto greedy = Generate(*s.engine, Constrained("greedy", g, 300));
  EXPECT_EQ(greedy[0].finish, FinishReason::kStop);
  EXPECT_EQ(CheckAgainstSchema(greedy[0].text, kSchema), "");
  GenerateRequest r = Constrained("sampled", g, 300);
  r.sampling.temperature = 0.8;
  r.sampling.seed = 3;
  r.sampling.n = 2;
  auto sampled = Generate(*s.engine, r);
  for (auto& [index, seq] : sampled) {
    EXPECT_EQ(seq.finish, FinishReason::kStop) << index;
    EXPECT_EQ(CheckAgainstSchema(seq.text, kSchema), "") << index;
  }
}

TEST_F(ConstrainedEngineTest, MaxTokensCutEndsWithLength) {
  Served s = RandomModel(StoriesTokenizerDir(), 512, 256, 16);
  RequestOutput last;
  auto seqs = Generate(*s.engine, Constrained("cut", Schema(s), 5), &last);
  EXPECT_EQ(seqs[0].finish, FinishReason::kLength);
  EXPECT_EQ(last.usage.completion_tokens, 5);
  EXPECT_FALSE(CheckAgainstSchema(seqs[0].text, kSchema).empty());  // a cut prefix
  EXPECT_EQ(seqs[0].text.substr(0, 1), "{");
}

TEST_F(ConstrainedEngineTest, StreamingGivesTheSameText) {
  Served s = RandomModel(StoriesTokenizerDir(), 512, 256, 16);
  auto g = Schema(s);
  GenerateRequest r = Constrained("s", g, 400);
  r.sampling.temperature = 1.0;
  r.sampling.seed = 17;
  auto whole = Generate(*s.engine, r);
  r.request_id = "s2";
  r.stream = true;
  Collector c;
  ASSERT_TRUE(s.engine->Submit(r, c.Sink()).ok());
  ASSERT_TRUE(c.Wait(std::chrono::seconds(300)));
  EXPECT_GT(c.outputs().size(), 3u);  // streamed in pieces
  auto streamed = c.Sequences();
  EXPECT_EQ(streamed[0].text, whole[0].text);
  EXPECT_EQ(streamed[0].finish, FinishReason::kStop);
  EXPECT_EQ(CheckAgainstSchema(streamed[0].text, kSchema), "");
}

TEST_F(ConstrainedEngineTest, ChoiceRegexAndGrammarText) {
  Served s = RandomModel(StoriesTokenizerDir(), 512, 256, 16);
  auto choice = grammar::CompileChoice({"positive", "negative", "neutral"}, s.vocab);
  ASSERT_TRUE(choice.ok());
  auto c = Generate(*s.engine, Constrained("choice", *choice, 50));
  EXPECT_TRUE(c[0].text == "positive" || c[0].text == "negative" || c[0].text == "neutral")
      << c[0].text;
  EXPECT_EQ(c[0].finish, FinishReason::kStop);
  auto regex = grammar::CompileRegex(R"([0-9]{3}-[a-z]{2,4})", s.vocab);
  ASSERT_TRUE(regex.ok());
  GenerateRequest rr = Constrained("regex", *regex, 50);
  rr.sampling.temperature = 1.0;
  rr.sampling.seed = 4;
  auto r = Generate(*s.engine, rr);
  EXPECT_TRUE(std::regex_match(r[0].text, std::regex("[0-9]{3}-[a-z]{2,4}"))) << r[0].text;
  // Bounded (a recursive grammar need not end under random weights; JSON object mode covers
  // recursion).
  auto gbnf = grammar::CompileGrammarText(R"gbnf(root ::= greeting " " name ("!" | "."){1,2}
greeting ::= "hello" | "hi"
name ::= [A-Z] [a-z]{1,6})gbnf",
                                          s.vocab);
  ASSERT_TRUE(gbnf.ok()) << gbnf.status();
  auto t = Generate(*s.engine, Constrained("gbnf", *gbnf, 200));
  EXPECT_EQ(t[0].finish, FinishReason::kStop) << t[0].text;
  EXPECT_TRUE(std::regex_match(t[0].text, std::regex(R"((hello|hi) [A-Z][a-z]{1,6}[!.]{1,2})")))
      << t[0].text;
}

TEST_F(ConstrainedEngineTest, LogprobsAreOfTheMaskedDistribution) {
  Served s = Stories();
  auto g = grammar::CompileChoice({"yes", "no"}, s.vocab);
  ASSERT_TRUE(g.ok());
  GenerateRequest r = Constrained("lp", *g, 20);
  r.sampling.logprobs = 5;
  auto seqs = Generate(*s.engine, r);
  ASSERT_EQ(seqs[0].finish, FinishReason::kStop);
  // Replay the matcher along the output: every reported token was allowed where it was listed.
  grammar::Matcher m(*g, {2});
  std::vector<uint64_t> mask(grammar::Matcher::BitmaskWords(512));
  ASSERT_EQ(seqs[0].logprobs.size(), seqs[0].ids.size());
  for (size_t i = 0; i < seqs[0].ids.size(); ++i) {
    const int64_t allowed = m.FillNextTokenBitmask(mask);
    double mass = 0;
    for (const TopLogprob& t : seqs[0].logprobs[i].top) {
      EXPECT_TRUE(grammar::Matcher::IsSet(mask, t.token_id)) << "step " << i;
      mass += std::exp(t.logprob);
    }
    EXPECT_LE(mass, 1.0 + 1e-4);
    EXPECT_LE(static_cast<int64_t>(seqs[0].logprobs[i].top.size()), allowed);
    if (allowed == 1) EXPECT_NEAR(seqs[0].logprobs[i].logprob, 0.0, 1e-5);
    ASSERT_TRUE(m.Accept(seqs[0].ids[i]).ok());
  }
}

TEST_F(ConstrainedEngineTest, StopStringsAndMinTokensStillApply) {
  Served s = Stories();
  GenerateRequest r = Constrained("stop", Schema(s), 400);
  r.stop.stop = {","};
  auto seqs = Generate(*s.engine, r);
  EXPECT_EQ(seqs[0].finish, FinishReason::kStop);
  EXPECT_EQ(seqs[0].stop_reason, ",");
  EXPECT_EQ(seqs[0].text.find(','), std::string::npos);
  // min_tokens cannot hold a grammar open that only allows ending.
  auto g = grammar::CompileChoice({"a"}, s.vocab);
  GenerateRequest m = Constrained("min", *g, 50);
  m.stop.min_tokens = 10;
  auto done = Generate(*s.engine, m);
  EXPECT_EQ(done[0].finish, FinishReason::kStop);
  EXPECT_EQ(done[0].text, "a");
}

// Under a grammar EOS would end the text, so ignore_eos masks it while the grammar allows
// anything else: the text runs to max_tokens or to the grammar's own end.
TEST_F(ConstrainedEngineTest, IgnoreEosRunsToTheGrammarsEndOrMaxTokens) {
  Served s = RandomModel(StoriesTokenizerDir(), 512, 256, 16);
  auto open = grammar::CompileGrammarText(R"gbnf(root ::= ("x" | "y" | ",")+)gbnf", s.vocab);
  ASSERT_TRUE(open.ok()) << open.status();
  GenerateRequest r = Constrained("open", *open, 40);
  r.sampling.temperature = 1.0;
  r.sampling.seed = 8;
  r.sampling.n = 4;
  r.stop.ignore_eos = true;
  RequestOutput last;
  auto seqs = Generate(*s.engine, r, &last);
  ASSERT_EQ(seqs.size(), 4u);
  for (auto& [index, seq] : seqs) {
    EXPECT_EQ(seq.finish, FinishReason::kLength) << index << ": " << seq.text;
    EXPECT_TRUE(std::regex_match(seq.text, std::regex("[xy,]+"))) << seq.text;
  }
  EXPECT_EQ(last.usage.completion_tokens, 4 * 40);
  auto closed = grammar::CompileChoice({"yes", "no"}, s.vocab);
  ASSERT_TRUE(closed.ok());
  GenerateRequest c = Constrained("closed", *closed, 40);
  c.stop.ignore_eos = true;
  auto done = Generate(*s.engine, c);
  EXPECT_EQ(done[0].finish, FinishReason::kStop);
  EXPECT_TRUE(done[0].text == "yes" || done[0].text == "no") << done[0].text;
}

TEST_F(ConstrainedEngineTest, PreemptionAndPrefixCacheKeepTheOutput) {
  EngineOptions o = TestOptions();
  o.scheduler.max_batch_size = 16;
  std::vector<GenerateRequest> reqs;
  Served alone_engine = Stories();
  auto g = Schema(alone_engine);
  std::map<std::string, std::string> alone;
  for (int i = 0; i < 12; ++i) {
    GenerateRequest r = Constrained("p" + std::to_string(i), g, 200);
    r.prompt_ids = Ids(4 + i, 50 + i, 3, 500);
    r.stream = i % 2 == 0;
    alone[r.request_id] = Generate(*alone_engine.engine, r)[0].text;
    reqs.push_back(std::move(r));
  }
  // The same requests at once on a pool far too small for them: preemption by recompute.
  Served small = Stories(/*num_blocks=*/32, /*block_size=*/8, o);
  std::vector<std::unique_ptr<Collector>> cs;
  for (auto& r : reqs) {
    cs.push_back(std::make_unique<Collector>());
    r.constraint = Schema(small);
    ASSERT_TRUE(small.engine->Submit(r, cs.back()->Sink()).ok());
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(cs[i]->Wait(std::chrono::seconds(300)));
    auto seqs = cs[i]->Sequences();
    EXPECT_EQ(seqs[0].text, alone[reqs[i].request_id]) << reqs[i].request_id;
    EXPECT_EQ(CheckAgainstSchema(seqs[0].text, kSchema), "");
  }
  EXPECT_GT(small.engine->Counters().preemptions, 0);
  // Again, one by one: the prompts now come from the prefix cache.
  RequestOutput last;
  auto again = Generate(*small.engine, reqs[11], &last);
  EXPECT_GT(last.usage.cached_prompt_tokens, 0);
  EXPECT_EQ(again[0].text, alone[reqs[11].request_id]);
}

TEST_F(ConstrainedEngineTest, DeadEndFailsOnlyItsRequest) {
  Served s = Stories();
  // A vocabulary without the letter the grammar needs: no token can continue after "a".
  std::vector<std::optional<std::string>> tokens(512);
  for (int id = 3; id < 512; ++id)
    tokens[id] = s.vocab->TokenBytes(id).empty() ? std::nullopt : std::optional<std::string>("a");
  auto crippled = grammar::Vocabulary::FromTokenBytes(tokens, false);
  auto g = grammar::CompileRegex("ab", crippled);
  ASSERT_TRUE(g.ok());
  RequestOutput last;
  Generate(*s.engine, Constrained("dead", *g, 20), &last);
  EXPECT_FALSE(last.error.ok());
  EXPECT_NE(std::string(last.error.message()).find("dead end"), std::string::npos) << last.error;
  EXPECT_EQ(last.events[0].finish, FinishReason::kError);
  auto fine = Generate(*s.engine, Constrained("fine", Schema(s), 400));
  EXPECT_EQ(CheckAgainstSchema(fine[0].text, kSchema), "");
}

TEST_F(ConstrainedEngineTest, JsonObjectModeWithARandomModel) {
  Served s = RandomModel(StoriesTokenizerDir(), 512, 256, 16);
  auto g = grammar::CompileJsonObject(s.vocab);
  ASSERT_TRUE(g.ok());
  for (uint64_t seed : {1, 2, 3}) {
    GenerateRequest r = Constrained("obj" + std::to_string(seed), *g, 200);
    r.sampling.temperature = 1.0;
    r.sampling.seed = seed;
    auto seqs = Generate(*s.engine, r);
    if (seqs[0].finish == FinishReason::kStop) {
      auto v = nlohmann::json::parse(seqs[0].text, nullptr, false);
      EXPECT_TRUE(v.is_object()) << seqs[0].text;
    } else {
      EXPECT_EQ(seqs[0].finish, FinishReason::kLength);
      EXPECT_EQ(seqs[0].text.substr(0, 1), "{");
    }
  }
}

}  // namespace
}  // namespace mies::engine
