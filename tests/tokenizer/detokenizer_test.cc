// The streaming detokenizer: deltas are complete UTF-8 and concatenate to the full decode.
#include <gtest/gtest.h>

#include "tests/tokenizer/fixtures.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/utf8.h"

namespace mies::tokenizer {
namespace {

using testing::DataPath;
using testing::Load;
using testing::ReadJsonLines;

std::vector<std::string> StreamDeltas(const Tokenizer& tok, const std::vector<int>& ids,
                                      DecodeOptions options = {}) {
  IncrementalDetokenizer detok(tok, options);
  std::vector<std::string> deltas;
  for (const int id : ids) deltas.push_back(detok.Feed(id));
  deltas.push_back(detok.Finish());
  return deltas;
}

class StreamingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StreamingTest, ConcatenatedDeltasEqualFullDecodeOnWholeCorpus) {
  const Tokenizer& tok = Load(GetParam());
  const auto all_ids = ReadJsonLines(DataPath(GetParam() + ".ids.jsonl"));
  int failures = 0;
  for (size_t i = 0; i < all_ids.size() && failures < 5; ++i) {
    const auto ids = all_ids[i].get<std::vector<int>>();
    for (const bool skip : {false, true}) {
      const DecodeOptions options{.skip_special_tokens = skip, .clean_up_tokenization_spaces = {}};
      const auto deltas = StreamDeltas(tok, ids, options);
      std::string joined;
      for (size_t d = 0; d + 1 < deltas.size(); ++d) {
        // Only Finish() may emit an unfinished character (as U+FFFD, like Decode).
        if (FindInvalidUtf8(deltas[d]) != std::string::npos) {
          ADD_FAILURE() << "line " << i + 1 << " delta " << d << " is not valid UTF-8";
          ++failures;
        }
        joined += deltas[d];
      }
      joined += deltas.back();
      const std::string full = tok.Decode(ids, options);
      if (joined != full) {
        ADD_FAILURE() << "line " << i + 1 << " skip=" << skip << "\n stream "
                      << nlohmann::json(joined).dump() << "\n decode "
                      << nlohmann::json(full).dump();
        ++failures;
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

INSTANTIATE_TEST_SUITE_P(AllTokenizers, StreamingTest,
                         ::testing::ValuesIn(testing::AllFixtureNames()), [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = (c == '-') ? '_' : c;
                           return n;
                         });

TEST(StreamingDetokenizer, HoldsByteFallbackRunsUntilTheCharacterIsComplete) {
  const Tokenizer& tok = Load("stories260K");  // 512-token vocabulary: CJK is byte fallback
  auto ids = tok.Encode("日本", /*add_special_tokens=*/false);
  ASSERT_TRUE(ids.ok());
  // "▁" then 3 + 3 byte tokens.
  ASSERT_EQ(ids->size(), 7u) << ids->size();
  const auto deltas = StreamDeltas(tok, *ids);
  EXPECT_EQ(deltas, (std::vector<std::string>{"", "", "", "日", "", "", "本", ""}));
}

TEST(StreamingDetokenizer, DropsSentencePieceLeadingSpaceOnlyAtTheStart) {
  const Tokenizer& tok = Load("mistral-7b");
  auto ids = tok.Encode("Hello world", /*add_special_tokens=*/true);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 3u);  // <s> ▁Hello ▁world
  EXPECT_EQ(
      StreamDeltas(tok, *ids, {.skip_special_tokens = true, .clean_up_tokenization_spaces = {}}),
      (std::vector<std::string>{"", "Hello", " world", ""}));
}

TEST(StreamingDetokenizer, HoldsSpaceThatCleanUpMayRemove) {
  const Tokenizer& tok = Load("llama3");  // clean_up_tokenization_spaces: true
  ASSERT_TRUE(tok.clean_up_tokenization_spaces());
  auto ids = tok.Encode("Hello . I do n't , you 're", /*add_special_tokens=*/false);
  ASSERT_TRUE(ids.ok());
  std::string joined;
  for (const auto& d : StreamDeltas(tok, *ids)) joined += d;
  EXPECT_EQ(joined, "Hello. I don't, you're");
  EXPECT_EQ(joined, tok.Decode(*ids));
}

TEST(StreamingDetokenizer, IgnoresIdsWithoutToken) {
  const Tokenizer& tok = Load("qwen3");
  IncrementalDetokenizer detok(tok);
  EXPECT_EQ(detok.Feed(tok.vocab_size() + 5), "");
  EXPECT_EQ(detok.Feed(-1), "");
  EXPECT_EQ(detok.Feed(*tok.Encode("Hi", false).value().begin()), "Hi");
  EXPECT_EQ(detok.Finish(), "");
}

}  // namespace
}  // namespace mies::tokenizer
