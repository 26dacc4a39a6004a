// Collectives the tensor-parallel forward pass needs, behind one interface so the same model
// code runs with one rank (identity), with N ranks as threads of one process (tests), and
// across processes and nodes (a Gloo implementation added by the cluster layer).
//
// Contract (every implementation): all ranks of a group call the same collectives in the same
// order with matching sizes; results are identical on every rank and deterministic (the sum
// is taken in rank order 0, 1, ..., n-1, so repeated runs give bitwise equal results, which is
// what $HCCL_DETERMINISTIC asks for). A size mismatch is an error returned on every rank.
#pragma once

#include <barrier>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "common/status.h"

namespace mies::model {

// This rank's place in the tensor-parallel group; given to the weight loader and the model.
// MoE layers split their experts over moe_ep groups of tp_size / moe_ep ranks each: rank r
// belongs to expert group r / (tp_size / moe_ep), holds that group's experts whole, and slices
// their intermediate dimension with the other ranks of its group. moe_ep = 1 is MoE tensor
// parallelism (every rank a slice of every expert), moe_ep = tp_size is expert parallelism
// (every rank whole experts). Dense layers ignore it.
struct ParallelConfig {
  int tp_rank = 0;
  int tp_size = 1;
  int moe_ep = 1;
  int moe_tp() const { return tp_size / moe_ep; }
  int ep_rank() const { return tp_rank / moe_tp(); }      // this rank's expert group
  int moe_tp_rank() const { return tp_rank % moe_tp(); }  // its slice within the group
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data <- elementwise sum of every rank's data.
  virtual Status AllReduceSum(std::span<float> data) = 0;
  // out <- concatenation of every rank's `local`, in rank order. Ranks may contribute different
  // lengths (uneven vocab shards); out.size() must equal the total.
  virtual Status AllGather(std::span<const float> local, std::span<float> out) = 0;
};

// tp_size 1: nothing to exchange.
class IdentityCollective final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status AllReduceSum(std::span<float>) override { return OkStatus(); }
  Status AllGather(std::span<const float> local, std::span<float> out) override;
};

// N ranks living as threads of one process (tests, and single-node runs that want TP without
// extra processes). Each rank's thread calls Member(rank)'s methods; calls block until every
// rank has arrived.
class InProcessGroup {
 public:
  explicit InProcessGroup(int size);
  int size() const { return size_; }
  // The collective for one rank; valid while the group lives.
  std::unique_ptr<Collective> Member(int rank);

 private:
  friend class InProcessMember;
  int size_;
  std::barrier<> barrier_;
  // Published by each rank between barriers.
  std::vector<float*> bufs_;
  std::vector<const float*> cbufs_;
  std::vector<size_t> sizes_;
  std::vector<float> scratch_;
};

}  // namespace mies::model
