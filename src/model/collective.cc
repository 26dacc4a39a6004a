#include "model/collective.h"

#include <algorithm>
#include <cstring>

namespace mies::model {

Status IdentityCollective::AllGather(std::span<const float> local, std::span<float> out) {
  if (out.size() != local.size()) {
    return InvalidArgument("AllGather: output has ", out.size(), " elements, expected ",
                           local.size());
  }
  if (!local.empty()) std::memcpy(out.data(), local.data(), local.size() * sizeof(float));
  return OkStatus();
}

class InProcessMember final : public Collective {
 public:
  InProcessMember(InProcessGroup* g, int rank) : g_(g), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_->size_; }

  Status AllReduceSum(std::span<float> data) override {
    const int n = g_->size_;
    g_->bufs_[rank_] = data.data();
    g_->sizes_[rank_] = data.size();
    g_->barrier_.arrive_and_wait();  // every rank has published its buffer
    for (int r = 0; r < n; ++r) {
      if (g_->sizes_[r] != data.size()) {
        Status s = InvalidArgument("AllReduceSum: rank ", r, " has ", g_->sizes_[r],
                                   " elements, rank ", rank_, " has ", data.size());
        g_->barrier_.arrive_and_wait();
        return s;
      }
    }
    if (rank_ == 0) g_->scratch_.resize(data.size());
    g_->barrier_.arrive_and_wait();
    // Each rank sums its own slice of the elements, always in rank order.
    const size_t len = data.size();
    const size_t begin = len * rank_ / n, end = len * (rank_ + 1) / n;
    for (size_t i = begin; i < end; ++i) {
      float s = g_->bufs_[0][i];
      for (int r = 1; r < n; ++r) s += g_->bufs_[r][i];
      g_->scratch_[i] = s;
    }
    g_->barrier_.arrive_and_wait();  // the whole sum is in scratch
    if (len > 0) std::memcpy(data.data(), g_->scratch_.data(), len * sizeof(float));
    g_->barrier_.arrive_and_wait();  // nobody reuses scratch before everyone copied
    return OkStatus();
  }

  Status AllGather(std::span<const float> local, std::span<float> out) override {
    const int n = g_->size_;
    g_->cbufs_[rank_] = local.data();
    g_->sizes_[rank_] = local.size();
    g_->barrier_.arrive_and_wait();
    size_t total = 0;
    for (int r = 0; r < n; ++r) total += g_->sizes_[r];
    Status status = OkStatus();
    if (total != out.size()) {
      status = InvalidArgument("AllGather: output has ", out.size(),
                               " elements, the ranks contribute ", total);
    } else {
      size_t off = 0;
      for (int r = 0; r < n; ++r) {
        if (g_->sizes_[r] > 0) {
          std::memcpy(out.data() + off, g_->cbufs_[r], g_->sizes_[r] * sizeof(float));
        }
        off += g_->sizes_[r];
      }
    }
    g_->barrier_.arrive_and_wait();  // inputs stay alive until everyone has copied
    return status;
  }

 private:
  InProcessGroup* g_;
  int rank_;
};

InProcessGroup::InProcessGroup(int size)
    : size_(size), barrier_(size), bufs_(size), cbufs_(size), sizes_(size) {}

std::unique_ptr<Collective> InProcessGroup::Member(int rank) {
  return std::make_unique<InProcessMember>(this, rank);
}

}  // namespace mies::model
