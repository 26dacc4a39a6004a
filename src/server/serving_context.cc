#include "server/serving_context.h"

namespace mies::server {

ModelInfo ModelInfo::FromConfig(const config::Config& c, int64_t vocab_size) {
  ModelInfo m;
  const auto& deploy = c.backend.model_deploy;
  const auto& sched = c.backend.schedule;
  if (!deploy.model_config.empty()) {
    const auto& mc = deploy.model_config[0];
    m.name = mc.model_name;
    m.weight_path = c.ModelWeightPath();
    m.instance_type = mc.model_instance_type;
    m.world_size = mc.world_size;
    m.npu_mem_size = mc.npu_mem_size_gb;
    m.cpu_mem_size = mc.cpu_mem_size_gb;
  }
  m.vocab_size = vocab_size;
  m.max_seq_len = deploy.max_seq_len;
  m.max_input_tokens = deploy.EffectiveMaxInputTokens();
  m.max_iter_times = sched.max_iter_times;
  m.max_prefill_tokens = sched.max_prefill_tokens;
  m.max_batch_size = sched.max_batch_size;
  m.max_prefill_batch_size =
      sched.max_prefill_batch_size > 0 ? sched.max_prefill_batch_size : sched.max_batch_size;
  m.max_n = sched.max_n;
  m.cache_block_size = sched.cache_block_size;
  m.prefill_policy_type = sched.prefill_policy_type;
  m.decode_policy_type = sched.decode_policy_type;
  m.max_request_chars = static_cast<int64_t>(c.server.max_request_length_mb) << 20;
  m.native_openai = c.server.open_ai_support != "vllm";
  m.full_text = c.server.full_text_enabled;
  return m;
}

void RequestRegistry::Add(const std::string& public_id, const std::string& engine_id) {
  std::lock_guard lock(mu_);
  ids_[public_id] = engine_id;
}
void RequestRegistry::Remove(const std::string& public_id) {
  std::lock_guard lock(mu_);
  ids_.erase(public_id);
}
std::optional<std::string> RequestRegistry::Find(const std::string& public_id) const {
  std::lock_guard lock(mu_);
  auto it = ids_.find(public_id);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}
size_t RequestRegistry::size() const {
  std::lock_guard lock(mu_);
  return ids_.size();
}

}  // namespace mies::server
