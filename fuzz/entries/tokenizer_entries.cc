// tokenizer.json loading, and encode / decode / streaming decode of fuzzed text and ids on real
// tokenizers from shared/tokenizers (one SentencePiece-style with byte fallback, one byte-level
// BPE with a pre-tokenizer regex and NFC) plus stories260K's.
#include <cstring>
#include <memory>
#include <vector>

#include "entries.h"
#include "support.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace mies::fuzz {
namespace {

using tokenizer::DecodeOptions;
using tokenizer::Tokenizer;

const Tokenizer& Shared(int which) {
  static const char* const kDirs[] = {"models/stories260K", "tokenizers/mistral-7b",
                                      "tokenizers/qwen3"};
  static std::unique_ptr<Tokenizer> loaded[3];
  if (loaded[which] == nullptr) {
    auto t = Tokenizer::Load(SharedDir() + "/" + kDirs[which]);
    if (!t.ok()) Die("cannot load a reference tokenizer from MIES_SHARED_DIR");
    loaded[which] = std::move(*t);
  }
  return *loaded[which];
}

// The streaming detokenizer's contract: every delta but the last is whole UTF-8, and the
// deltas concatenate to Decode() of the same ids.
void CheckStreaming(const Tokenizer& tok, const std::vector<int>& ids, const DecodeOptions& opt) {
  tokenizer::IncrementalDetokenizer detok(tok, opt);
  std::string joined;
  for (int id : ids) {
    std::string delta = detok.Feed(id);
    if (tokenizer::FindInvalidUtf8(delta) != std::string::npos) {
      Die("tokenizer: a streamed delta is not valid UTF-8");
    }
    joined += delta;
  }
  joined += detok.Finish();
  if (joined != tok.Decode(ids, opt)) Die("tokenizer: streamed text differs from Decode()");
}

}  // namespace

void InitTokenizers() {
  for (int i = 0; i < 3; ++i) (void)Shared(i);
}

Status FuzzTokenizerJson(std::string_view data) {
  auto tok = Tokenizer::FromJson(data);
  if (!tok.ok()) return tok.status();
  // A loaded tokenizer must encode and decode without crashing.
  auto ids = (*tok)->Encode("Hello world! 你好 <s> 123 \t\n  x", true);
  if (!ids.ok()) return ids.status();
  (void)(*tok)->Decode(*ids);
  (void)(*tok)->Decode(*ids, {.skip_special_tokens = true, .clean_up_tokenization_spaces = true});
  const int n = (*tok)->vocab_size();
  std::vector<int> probe = {-1, 0, n - 1, n, n + 1000};
  (void)(*tok)->Decode(probe);
  for (int id : probe) (void)(*tok)->IdToToken(id);
  return OkStatus();
}

Status FuzzTokenizerEncode(std::string_view data) {
  if (data.empty()) return InvalidArgument("empty input");
  const uint8_t mode = static_cast<uint8_t>(data[0]);
  const std::string_view text = data.substr(1);
  const Tokenizer& tok = Shared(mode % 3);
  const bool add_special = mode & 4;
  const DecodeOptions opt{.skip_special_tokens = (mode & 8) != 0,
                          .clean_up_tokenization_spaces = (mode & 16) != 0};
  if (mode & 32) {
    // The bytes as raw ids (what a client sends to /detokenize or as stop/token inputs),
    // out-of-range values included.
    std::vector<int> ids(text.size() / sizeof(int));
    if (!ids.empty()) std::memcpy(ids.data(), text.data(), ids.size() * sizeof(int));
    (void)tok.Decode(ids, opt);
    for (int& id : ids) {
      // The engine only streams ids it sampled (inside the vocabulary).
      id =
          tok.vocab_size() > 0 ? static_cast<int>(static_cast<unsigned>(id) % tok.vocab_size()) : 0;
    }
    CheckStreaming(tok, ids, opt);
    return OkStatus();
  }
  auto ids = tok.Encode(text, add_special);
  if (!ids.ok()) return ids.status();
  for (int id : *ids) {
    if (id < 0 || id >= tok.vocab_size())
      Die("tokenizer: Encode produced an id outside the vocabulary");
  }
  CheckStreaming(tok, *ids, opt);
  return OkStatus();
}

}  // namespace mies::fuzz
