// Helpers shared by the model tests: temporary directories and model-dir copies with the file
// modes MindIE's rules want (the shared models are read-only 0444, which is wider than 0750).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace mies::model::testing {

inline std::string SharedDir() { return MIES_SHARED_DIR; }
inline std::string Stories260KDir() { return SharedDir() + "/models/stories260K"; }
inline bool HaveShared() { return std::filesystem::exists(Stories260KDir() + "/config.json"); }

// A fresh directory removed when the object dies.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "mies_model_" + std::to_string(::getpid()) + "_" +
                       (info ? std::string(info->test_suite_name()) + "_" + info->name() : "x") +
                       "_" + std::to_string(counter_++);
    // Parameterized names hold '/' ("Presets/Suite", "Test/0"): one flat directory, or removing
    // it would leave the parents behind.
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// Copies the regular files of `src` into `dst` with mode 0640.
inline void CopyModelDir(const std::string& src, const std::string& dst) {
  namespace fs = std::filesystem;
  for (const auto& e : fs::directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    const fs::path to = fs::path(dst) / e.path().filename();
    fs::copy_file(e.path(), to, fs::copy_options::overwrite_existing);
    fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  }
}

}  // namespace mies::model::testing

#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>
#include <vector>

#include "model/llama_model.h"
#include "nlohmann/json.hpp"

namespace mies::model::testing {

// What the numpy reference computed: logits after each prompt token, then after each fed
// greedy token, and the greedy tokens themselves.
struct RefRun {
  int64_t vocab = 0;
  std::vector<int32_t> generated;
  std::vector<float> logits;  // [(prompt + greedy - 1)][vocab]
  const float* Row(int64_t i) const { return logits.data() + i * vocab; }
};

inline std::string JoinIds(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

// Runs tests/model/ref_dump.py (numpy, via the system python3 which has numpy). `ref`: "llama"
// (the shared LLaMA reference) or "decoder" (tools/reference/ref_decoder.py: MoE, windows).
inline bool RunRef(const std::string& model_dir, const std::vector<int32_t>& ids, int greedy,
                   RefRun* out, const std::string& ref = "llama") {
  TempDir tmp;
  const std::string bin = tmp / "logits.bin";
  const std::string cmd = "/usr/bin/python3 " + std::string(MIES_SOURCE_DIR) +
                          "/tests/model/ref_dump.py " + SharedDir() + " " + model_dir + " --ids " +
                          JoinIds(ids) + " --out " + bin + " --greedy " + std::to_string(greedy) +
                          " --ref " + ref;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return false;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  if (::pclose(p) != 0) {
    ADD_FAILURE() << "reference failed: " << cmd;
    return false;
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "reference printed no JSON: " << text;
    return false;
  }
  out->vocab = j["vocab"].get<int64_t>();
  out->generated = j["generated"].get<std::vector<int32_t>>();
  std::ifstream f(bin, std::ios::binary);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  out->logits.resize(raw.size() / 4);
  std::memcpy(out->logits.data(), raw.data(), out->logits.size() * 4);
  const size_t want_rows = ids.size() + (greedy > 0 ? greedy - 1 : 0);
  if (out->logits.size() != want_rows * out->vocab) {
    ADD_FAILURE() << "reference wrote " << out->logits.size() << " floats, want "
                  << want_rows * out->vocab;
    return false;
  }
  return true;
}

// Deterministic pseudo-random token ids in [lo, hi).
inline std::vector<int32_t> PseudoRandomIds(int n, int32_t lo, int32_t hi, uint32_t seed) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    ids.push_back(lo + static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(hi - lo)));
  }
  return ids;
}

// A sequence's contiguous block table: blocks [first, first + n).
inline std::vector<int32_t> Blocks(int32_t first, int32_t n) {
  std::vector<int32_t> b(static_cast<size_t>(n));
  std::iota(b.begin(), b.end(), first);
  return b;
}

inline float MaxAbsDiff(const float* a, const float* b, int64_t n) {
  float m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

inline int32_t Argmax(const float* x, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

// Prefills `prompt` (all logits) then decodes greedily for `steps` tokens, one at a time.
// Logit rows go to `logits` in the reference's order; returns the greedy tokens.
inline std::vector<int32_t> RunGreedy(LlamaModel& model, KvCache& cache,
                                      const std::vector<int32_t>& prompt, int steps,
                                      std::vector<float>* logits) {
  const auto table = Blocks(0, static_cast<int32_t>(cache.num_blocks()));
  ForwardOutput out;
  SequenceInput in{prompt, 0, table, static_cast<int64_t>(prompt.size())};
  Status s = model.Forward({&in, 1}, cache, &out);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return {};
  logits->assign(out.logits.begin(), out.logits.end());
  const int64_t V = out.vocab;
  std::vector<int32_t> gen;
  int32_t tok = Argmax(out.Row(0, static_cast<int64_t>(prompt.size()) - 1), V);
  int64_t pos = static_cast<int64_t>(prompt.size());
  for (int step = 0; step < steps; ++step) {
    gen.push_back(tok);
    if (step + 1 == steps) break;
    int32_t one[1] = {tok};
    SequenceInput d{one, pos++, table, 1};
    s = model.Forward({&d, 1}, cache, &out);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) break;
    logits->insert(logits->end(), out.logits.begin(), out.logits.end());
    tok = Argmax(out.Row(0), V);
  }
  return gen;
}

}  // namespace mies::model::testing
