// Helpers shared by the tokenizer tests: where the reference tokenizers live and the
// committed fixtures produced by tools/tokenizer_ref/gen_fixtures.sh.
#pragma once

#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace mies::tokenizer::testing {

// Fixture name -> tokenizer directory.
inline std::map<std::string, std::string> ReferenceTokenizers() {
  const std::string shared = MIES_SHARED_DIR;
  return {
      {"gemma3", shared + "/tokenizers/gemma3"}, {"gpt4o", shared + "/tokenizers/gpt4o"},
      {"llama3", shared + "/tokenizers/llama3"}, {"mistral-7b", shared + "/tokenizers/mistral-7b"},
      {"qwen3", shared + "/tokenizers/qwen3"},   {"stories260K", shared + "/models/stories260K"}};
}

inline std::string DataPath(const std::string& file) {
  return std::string(MIES_SOURCE_DIR) + "/tests/tokenizer/data/" + file;
}

// One JSON value per line.
inline std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline std::vector<std::string> Corpus() {
  std::vector<std::string> lines;
  for (const auto& j : ReadJsonLines(DataPath("corpus.jsonl")))
    lines.push_back(j.get<std::string>());
  return lines;
}

inline std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A variant from data/variants.json: its base tokenizer.json with some top-level fields
// replaced (tools/tokenizer_ref/make_variant.py does the same for the reference).
inline std::unique_ptr<Tokenizer> LoadVariant(const std::string& name) {
  std::ifstream in(DataPath("variants.json"));
  const nlohmann::json variants = nlohmann::json::parse(in);
  const nlohmann::json& v = variants.at(name);
  const std::string dir = ReferenceTokenizers().at(v.at("base").get<std::string>());
  nlohmann::json tok = nlohmann::json::parse(ReadFileOrEmpty(dir + "/tokenizer.json"));
  for (const auto& [key, value] : v.at("set").items()) tok[key] = value;
  auto t = Tokenizer::FromJson(tok.dump(), ReadFileOrEmpty(dir + "/tokenizer_config.json"),
                               ReadFileOrEmpty(dir + "/generation_config.json"));
  if (!t.ok()) throw std::runtime_error(std::string(t.status().message()));
  return std::move(*t);
}

// Loading the big tokenizer.json files takes a while; each test binary loads each once.
inline const Tokenizer& Load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) {
    const auto dirs = ReferenceTokenizers();
    if (dirs.count(name) == 0) {
      slot = LoadVariant(name);
    } else {
      auto t = Tokenizer::Load(dirs.at(name));
      if (!t.ok()) throw std::runtime_error(std::string(t.status().message()));
      slot = std::move(*t);
    }
  }
  return *slot;
}

// Every tokenizer with reference fixtures: the shared files, then the variants.
inline std::vector<std::string> AllFixtureNames() {
  return {"gemma3",
          "gpt4o",
          "llama3",
          "mistral-7b",
          "qwen3",
          "stories260K",
          "mistral-metaspace",
          "qwen3-nfkc-lower",
          "llama3-bos-template"};
}

}  // namespace mies::tokenizer::testing
