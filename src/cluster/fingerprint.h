// The join fingerprint: everything that must agree between the nodes of a cluster, as named
// fields, so that a refusal names the field and both values. A mismatch of sampling defaults
// would not hang mies (rank 0 decides everything), but it means the nodes do not run the same
// model setup, so the join is refused rather than silently tolerated.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "config/ranktable.h"

namespace mies::cluster {

using Fingerprint = std::vector<std::pair<std::string, std::string>>;

struct FingerprintInputs {
  std::string model_dir;
  std::string dtype = "auto";  // ModelConfig dtype
  const config::RankTable* ranktable = nullptr;
  const config::ScheduleConfig* schedule = nullptr;  // null: not part of the fingerprint
  bool deterministic = false;                        // $HCCL_DETERMINISTIC
  int moe_ep = 1;  // MoE expert groups (ParallelConfig::moe_ep): ranks must agree on the split
  std::string activations = "auto";  // activationDtype: every rank must compute alike
};

// Fields: model.config_json.sha256, model.generation_config.sha256, model.files (name:size of
// every *.safetensors / index), model.safetensors_headers.sha256, model.architecture,
// model.shape, model.weight_dtype, generation.<field> for each sampling default,
// tp.world_size, tp.layout, tp.moe_ep (MoE models), schedule (all ScheduleConfig fields),
// env.HCCL_DETERMINISTIC.
StatusOr<Fingerprint> ComputeFingerprint(const FingerprintInputs& in);

// Every field that differs (or is missing on one side), as "field: master has 'a', node X has
// 'b'"; empty when they agree.
std::vector<std::string> CompareFingerprints(const Fingerprint& master, const Fingerprint& node,
                                             const std::string& node_name);

// "true" when $HCCL_DETERMINISTIC asks for deterministic reductions (true/1, any case).
bool DeterministicFromEnv(const config::Environment& env);

}  // namespace mies::cluster
