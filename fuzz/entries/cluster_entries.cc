// Control-plane and data-plane messages a node accepts: a JoinRequest (protobuf wire bytes, as
// gRPC hands them to the master) through the master's join check, and a step plan (the bytes a
// slave receives on the data plane) through decoding and a rank's ModelRunner on a real
// stories260K shard.
#include <memory>

#include "cluster/join_check.h"
#include "engine/step_plan.h"
#include "entries.h"
#include "model/collective.h"
#include "model/llama_model.h"
#include "runner/model_runner.h"
#include "support.h"

namespace mies::fuzz {
namespace {

// A master at 127.0.1.1 (rank 0) with slaves 127.0.1.2 (ranks 1, 2) and 127.0.1.3 (rank 3).
const std::vector<int>* RanktableRanks(const std::string& node) {
  static const std::vector<int> b = {1, 2}, c = {3};
  if (node == "127.0.1.2") return &b;
  if (node == "127.0.1.3") return &c;
  return nullptr;
}

const cluster::Fingerprint& MasterFingerprint() {
  static const cluster::Fingerprint fp = {{"model.config_json.sha256", "3f2a"},
                                          {"model.architecture", "LlamaForCausalLM"},
                                          {"model.shape", "64x5x8x4"},
                                          {"tp.world_size", "4"},
                                          {"tp.layout", "127.0.1.1:0;127.0.1.2:1,2;127.0.1.3:3"},
                                          {"generation.temperature", "1"},
                                          {"env.HCCL_DETERMINISTIC", "false"}};
  return fp;
}

struct Shard {
  model::IdentityCollective collective;
  std::unique_ptr<runner::ModelRunner> runner;
};

Shard& TheShard() {
  static Shard* shard = [] {
    QuietLogging();
    auto* s = new Shard();
    model::ModelOptions opt;
    opt.num_threads = 1;
    auto m = model::LlamaModel::Load(Stories260KDir(), opt, &s->collective);
    if (!m.ok()) Die("cannot load stories260K: " + std::string(m.status().message()));
    auto r = runner::ModelRunner::Create(std::move(*m), /*num_blocks=*/16, /*block_size=*/16);
    if (!r.ok()) Die("cannot create the KV cache");
    s->runner = std::move(*r);
    return s;
  }();
  return *shard;
}

}  // namespace

void InitModelShard() { (void)TheShard(); }

Status FuzzClusterJoin(std::string_view data) {
  auto claim = cluster::DecodeJoinRequest(data);
  if (!claim.ok()) return claim.status();
  const std::string refusal =
      cluster::JoinRefusal(*claim, RanktableRanks(claim->node_address), MasterFingerprint(),
                           "127.0.1.1", cluster::kProtocolVersion);
  if (!refusal.empty()) return FailedPrecondition(refusal);
  return OkStatus();
}

Status FuzzStepPlan(std::string_view data) {
  auto plan = engine::StepPlan::Deserialize(std::string(data));
  if (!plan.ok()) return plan.status();
  // Round trip: what the master would send for the decoded plan is the same bytes.
  if (plan->Serialize() != data) Die("step plan: Serialize(Deserialize(b)) != b");
  Shard& s = TheShard();
  engine::StepResult result;
  return s.runner->Run(*plan, &result);
}

}  // namespace mies::fuzz
