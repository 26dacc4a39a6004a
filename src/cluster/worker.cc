#include "cluster/worker.h"

#include <cstring>

#include "common/logging.h"

namespace mies::cluster {

RankWorker::RankWorker(int rank, int world, std::string bind_address, bool deterministic,
                       const ClusterTimeouts& timeouts, NodeState* state)
    : rank_(rank),
      world_(world),
      bind_address_(std::move(bind_address)),
      timeouts_(timeouts),
      state_(state),
      collective_(rank, world, deterministic, timeouts.collective_timeout) {}

RankWorker::~RankWorker() { StopAndJoin(); }

Status RankWorker::LoadModel(const std::string& model_dir, model::ModelOptions mo) {
  mo.parallel.tp_rank = rank_;
  mo.parallel.tp_size = world_;
  MIES_ASSIGN_OR_RETURN(auto model, model::LlamaModel::Load(model_dir, mo, &collective_));
  runner_ = std::make_unique<runner::ModelRunner>(std::move(model));
  return OkStatus();
}

Status RankWorker::AllocateCache(int64_t num_blocks, int64_t block_size,
                                 runner::KvReserve reserve) {
  MIES_RETURN_IF_ERROR(runner_->AllocateCache(num_blocks, block_size, reserve));
  MIES_LOG_INFO("rank {}: KV pool {} blocks x {} tokens, {} MiB ({})", rank_, num_blocks,
                block_size, runner_->kv_pool_bytes() >> 20, runner::KvReserveName(reserve));
  return OkStatus();
}

int64_t RankWorker::kv_pool_bytes() const { return runner_ ? runner_->kv_pool_bytes() : 0; }

bool RankWorker::has_cache(int64_t num_blocks, int64_t block_size) const {
  return runner_->has_cache(num_blocks, block_size);
}

void RankWorker::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void RankWorker::StopAndJoin() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  FailQueued("cluster is shutting down");
}

double RankWorker::TakeCollectiveSeconds() { return collective_seconds_.exchange(0); }

void RankWorker::FailQueued(const std::string& why) {
  std::lock_guard lock(mu_);
  for (const auto& j : queue_) {
    j->result = absl::UnavailableError(why);
    j->done = true;
  }
  queue_.clear();
  cv_.notify_all();
}

void RankWorker::AbandonInFlight(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (in_flight_ != nullptr && !in_flight_->done) {
      in_flight_->result = absl::UnavailableError(why);
      in_flight_->done = true;
    }
  }
  FailQueued(why);
}

StatusOr<engine::StepResult> RankWorker::Submit(const engine::StepPlan& plan) {
  auto job = std::make_shared<Job>(Job{plan});
  std::unique_lock lock(mu_);
  if (stop_) return absl::UnavailableError("cluster is shutting down");
  queue_.push_back(job);
  cv_.notify_all();
  cv_.wait(lock, [&] { return job->done; });
  return std::move(job->result);
}

void RankWorker::Loop() {
  uint64_t tried = 0;  // the last target we formed or failed
  while (!stop_ && !state_->shutdown) {
    const uint64_t target = state_->target.load();
    if (target == 0 || target == tried || EpochOf(target) == 0) {
      if (rank_ == 0) FailQueued("cluster is not ready: data plane not connected");
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      continue;
    }
    tried = target;
    if (device_ == nullptr) {
      auto dev = CreateTcpDevice(bind_address_);
      if (!dev.ok()) {
        MIES_LOG_ERROR("rank {}: {}", rank_, std::string(dev.status().message()));
        failed_ = target;
        continue;
      }
      device_ = *dev;
    }
    const std::string prefix = absl::StrCat("e", EpochOf(target), "/");
    StatusOr<DataPlane> ctx;
    {
      KvStore* store;
      {
        std::lock_guard lock(state_->store_mu);
        store = state_->store;
      }
      ctx = ConnectDataPlane(rank_, world_, device_, store, prefix, timeouts_.connect_timeout,
                             timeouts_.collective_timeout, [this, target] {
                               return stop_ || state_->shutdown || state_->target.load() != target;
                             });
    }
    if (!ctx.ok()) {
      MIES_LOG_WARN("rank {}: {}", rank_, std::string(ctx.status().message()));
      failed_ = target;
      continue;
    }
    collective_.Attach(*std::move(ctx));
    formed_ = target;
    MIES_LOG_INFO("rank {}: data plane connected on {} (epoch {}, world {})", rank_, bind_address_,
                  EpochOf(target), world_);
    if (rank_ == 0) {
      ServeRoot(target);
    } else {
      Serve(target);
    }
    formed_ = 0;
    collective_.Detach();
  }
  formed_ = 0;
  collective_.Detach();
}

void RankWorker::Serve(uint64_t target) {
  std::string bytes;
  while (!stop_ && !state_->shutdown && state_->target.load() == target) {
    const double before = collective_.collective_seconds();
    Status s = collective_.Broadcast(&bytes, timeouts_.plan_wait);
    if (!s.ok()) {
      MIES_LOG_WARN("rank {}: lost the master's step stream (epoch {}): {}", rank_, EpochOf(target),
                    std::string(s.message()));
      failed_ = target;
      return;
    }
    auto plan = engine::StepPlan::Deserialize(bytes);
    if (!plan.ok()) {
      MIES_LOG_ERROR("rank {}: bad step plan: {}", rank_, std::string(plan.status().message()));
      failed_ = target;
      return;
    }
    if (plan->shutdown) {
      MIES_LOG_INFO("rank {}: cluster shutdown received", rank_);
      state_->shutdown_plan = true;
      return;
    }
    if (plan->sequences.empty() && plan->block_copies.empty()) continue;  // keepalive
    s = runner_->Run(*plan, nullptr);
    collective_seconds_ = collective_seconds_ + (collective_.collective_seconds() - before);
    if (!s.ok() && !collective_.usable()) {
      MIES_LOG_WARN("rank {}: step {} failed: {}", rank_, plan->step_id, std::string(s.message()));
      failed_ = target;
      return;
    }
  }
}

void RankWorker::ServeRoot(uint64_t target) {
  const auto keepalive = std::max(std::chrono::milliseconds(50), timeouts_.plan_wait / 3);
  engine::StepPlan keepalive_plan;
  const std::string keepalive_bytes = keepalive_plan.Serialize();
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, keepalive, [&] {
        return !queue_.empty() || stop_ || state_->shutdown || state_->target.load() != target;
      });
      if (!queue_.empty() && !stop_ && !state_->shutdown && state_->target.load() == target) {
        job = queue_.front();
        queue_.pop_front();
        in_flight_ = job;
      }
    }
    if (stop_ || state_->shutdown) {
      engine::StepPlan bye;
      bye.shutdown = true;
      std::string bytes = bye.Serialize();
      Status s = collective_.Broadcast(&bytes, timeouts_.collective_timeout);
      if (!s.ok())
        MIES_LOG_WARN("rank 0: shutdown plan not delivered: {}", std::string(s.message()));
      return;
    }
    if (state_->target.load() != target) return;  // the master is re-forming the cluster
    if (job == nullptr) {
      std::string bytes = keepalive_bytes;
      Status s = collective_.Broadcast(&bytes, timeouts_.collective_timeout);
      if (!s.ok()) {
        MIES_LOG_WARN("rank 0: keepalive failed (epoch {}): {}", EpochOf(target),
                      std::string(s.message()));
        failed_ = target;
        return;
      }
      continue;
    }
    const double before = collective_.collective_seconds();
    engine::StepResult result;
    std::string bytes = job->plan.Serialize();
    Status s = collective_.Broadcast(&bytes, timeouts_.collective_timeout);
    if (s.ok()) s = runner_->Run(job->plan, &result);
    collective_seconds_ = collective_seconds_ + (collective_.collective_seconds() - before);
    const bool broken = !collective_.usable();
    {
      std::lock_guard lock(mu_);
      if (!job->done) {  // not abandoned meanwhile
        if (s.ok()) {
          job->result = std::move(result);
        } else {
          job->result = broken ? absl::UnavailableError(s.message()) : s;
        }
        job->done = true;
      }
      in_flight_.reset();
    }
    cv_.notify_all();
    if (broken) {
      MIES_LOG_WARN("rank 0: step {} failed (epoch {}): {}", job->plan.step_id, EpochOf(target),
                    std::string(s.message()));
      failed_ = target;
      return;
    }
  }
}

}  // namespace mies::cluster
