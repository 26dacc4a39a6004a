// Model files: a .safetensors file through the checkpoint loader, and the model's
// config.json / generation_config.json through their parsers.
#include <sys/stat.h>

#include <cstddef>

#include "entries.h"
#include "model/hf_config.h"
#include "model/safetensors.h"
#include "support.h"

namespace mies::fuzz {

Status FuzzSafetensors(std::string_view data) {
  // A model directory holding only this file, opened the way the weight loader does.
  static const std::string dir = [] {
    std::string d = ScratchDir() + "/safetensors";
    ::mkdir(d.c_str(), 0700);
    return d;
  }();
  WriteScratchFile("safetensors/model.safetensors", data);
  auto ckpt = model::Checkpoint::Open(dir);
  if (!ckpt.ok()) return ckpt.status();
  // Every tensor's bytes must lie inside the mapping: touch the first and last of each.
  unsigned sum = 0;
  for (const std::string& name : (*ckpt)->TensorNames()) {
    auto t = (*ckpt)->Get(name);
    if (!t.ok()) return t.status();
    const auto& bytes = (*t)->data;
    if (static_cast<int64_t>(bytes.size()) != (*t)->numel() * model::TensorDTypeSize((*t)->dtype)) {
      Die("safetensors: a tensor's byte span disagrees with its shape");
    }
    if (!bytes.empty())
      sum += static_cast<unsigned>(bytes.front()) + static_cast<unsigned>(bytes.back());
  }
  volatile unsigned sink = sum;
  (void)sink;
  return OkStatus();
}

Status FuzzHfConfig(std::string_view data) {
  const std::string text(data);
  auto gen = model::ParseGenerationConfig(text, "generation_config.json");
  auto cfg = model::ParseHfConfig(text, "config.json");
  if (!cfg.ok()) return cfg.status();
  const std::vector<double> inv = cfg->RopeInvFreq();
  if (static_cast<int64_t>(inv.size()) * 2 > cfg->head_dim + 1) {
    Die("hf config: more RoPE frequencies than head_dim / 2");
  }
  return gen.ok() ? OkStatus() : gen.status();
}

}  // namespace mies::fuzz
