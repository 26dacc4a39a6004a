// Tokenizer speed: encode throughput (MB/s, single thread) on a ~10 MB mixed corpus built at
// start-up by shuffling and repeating the lines of tests/tokenizer/data/corpus.jsonl, for each
// reference tokenizer; decode throughput on the resulting ids; load time of each tokenizer.json.
//   bench/tokenizer/tokenizer_bench [--benchmark_filter=Encode]
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace mies::tokenizer {
namespace {

const std::vector<std::pair<std::string, std::string>>& Tokenizers() {
  static const std::vector<std::pair<std::string, std::string>> list = {
      {"gemma3", "/tokenizers/gemma3"}, {"gpt4o", "/tokenizers/gpt4o"},
      {"llama3", "/tokenizers/llama3"}, {"mistral-7b", "/tokenizers/mistral-7b"},
      {"qwen3", "/tokenizers/qwen3"},   {"stories260K", "/models/stories260K"}};
  return list;
}

// Documents of 1-20 corpus lines joined by newlines, about 10 MB in all (the same every run).
const std::vector<std::string>& MixedCorpus() {
  static const std::vector<std::string> docs = [] {
    std::vector<std::string> lines;
    std::ifstream in(std::string(MIES_SOURCE_DIR) + "/tests/tokenizer/data/corpus.jsonl");
    for (std::string line; std::getline(in, line);) {
      lines.push_back(nlohmann::json::parse(line).get<std::string>());
    }
    std::mt19937 rng(7);
    std::vector<std::string> out;
    size_t total = 0;
    while (total < (10u << 20) && !lines.empty()) {
      std::string doc;
      const int n = 1 + static_cast<int>(rng() % 20);
      for (int k = 0; k < n; ++k) {
        if (k) doc += '\n';
        doc += lines[rng() % lines.size()];
      }
      total += doc.size();
      out.push_back(std::move(doc));
    }
    return out;
  }();
  return docs;
}

const Tokenizer& Get(const std::string& name, const std::string& rel) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) slot = std::move(Tokenizer::Load(std::string(MIES_SHARED_DIR) + rel).value());
  return *slot;
}

void BM_Encode(benchmark::State& state, const std::string& name, const std::string& rel) {
  const Tokenizer& tok = Get(name, rel);
  const auto& docs = MixedCorpus();
  size_t bytes = 0, tokens = 0;
  for (auto _ : state) {
    for (const std::string& d : docs) {
      auto ids = tok.Encode(d);
      tokens += ids->size();
      bytes += d.size();
      benchmark::DoNotOptimize(ids);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}

void BM_Decode(benchmark::State& state, const std::string& name, const std::string& rel) {
  const Tokenizer& tok = Get(name, rel);
  std::vector<std::vector<int>> all;
  for (const std::string& d : MixedCorpus()) all.push_back(*tok.Encode(d));
  size_t bytes = 0;
  for (auto _ : state) {
    for (const auto& ids : all) {
      const std::string text = tok.Decode(ids);
      bytes += text.size();
      benchmark::DoNotOptimize(text);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void BM_Load(benchmark::State& state, const std::string& rel) {
  for (auto _ : state) {
    auto tok = Tokenizer::Load(std::string(MIES_SHARED_DIR) + rel);
    if (!tok.ok()) state.SkipWithError(std::string(tok.status().message()).c_str());
    benchmark::DoNotOptimize(tok);
  }
}

const bool registered = [] {
  for (const auto& [name, rel] : Tokenizers()) {
    benchmark::RegisterBenchmark(("Encode/" + name).c_str(), BM_Encode, name, rel)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
  for (const auto& [name, rel] : Tokenizers()) {
    benchmark::RegisterBenchmark(("Decode/" + name).c_str(), BM_Decode, name, rel)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  }
  for (const auto& [name, rel] : Tokenizers()) {
    benchmark::RegisterBenchmark(("Load/" + name).c_str(), BM_Load, rel)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(2);
  }
  return true;
}();

}  // namespace
}  // namespace mies::tokenizer

BENCHMARK_MAIN();
