// Helpers shared by the grammar tests: a byte vocabulary (one token per byte, so a text is fed
// byte by byte and a grammar's language is checked exactly), text checks that also verify the
// mask at every step, and a brute-force mask to compare the cached one against.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/matcher.h"

namespace mies::grammar::testing {

inline constexpr int32_t kByteEos = 256;

// Ids 0-255: the byte itself; 256: EOS (no bytes); then `extra` multi-byte tokens.
inline std::shared_ptr<const Vocabulary> ByteVocabulary(const std::vector<std::string>& extra = {},
                                                        bool strips_leading_space = false) {
  std::vector<std::optional<std::string>> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  tokens.push_back(std::nullopt);
  for (const std::string& t : extra) tokens.push_back(t);
  return Vocabulary::FromTokenBytes(tokens, strips_leading_space);
}

// Feeds `text` byte by byte. Fails the test if the mask and Accept disagree on a byte. True when
// every byte is accepted and the text is complete.
inline bool Matches(const GrammarPtr& g, std::string_view text) {
  Matcher m(g, {kByteEos});
  std::vector<uint64_t> mask(Matcher::BitmaskWords(g->vocabulary().size()));
  for (unsigned char c : text) {
    m.FillNextTokenBitmask(mask);
    const bool allowed = Matcher::IsSet(mask, c);
    const bool accepted = m.Accept(c).ok();
    EXPECT_EQ(allowed, accepted) << "mask and Accept disagree on byte " << int{c} << " of \""
                                 << text << "\"";
    if (!accepted) return false;
  }
  m.FillNextTokenBitmask(mask);
  EXPECT_EQ(Matcher::IsSet(mask, kByteEos), m.IsComplete()) << "EOS vs complete: " << text;
  return m.IsComplete();
}

// Whether `bytes` could be read right now (on a copy of the matcher).
inline bool BruteForceAllows(const Matcher& m, int32_t token) {
  Matcher copy = m;
  return copy.Accept(token).ok();
}

// Every token whose bit differs from the brute-force answer (empty when the mask is exact).
inline std::vector<int32_t> MaskErrors(Matcher& m, int32_t num_tokens) {
  std::vector<uint64_t> mask(Matcher::BitmaskWords(num_tokens));
  m.FillNextTokenBitmask(mask);
  std::vector<int32_t> wrong;
  for (int32_t id = 0; id < num_tokens; ++id) {
    if (Matcher::IsSet(mask, id) != BruteForceAllows(m, id)) wrong.push_back(id);
  }
  return wrong;
}

inline GrammarPtr MustCompile(StatusOr<GrammarPtr> g) {
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *g : nullptr;
}

}  // namespace mies::grammar::testing
