// An EngineInterface for adapter tests: records what was submitted and lets the test play the
// engine's outputs into the sink. Legitimately fake: it injects engine behaviour, nothing else.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/request.h"

namespace mies::server::testing {

class FakeEngine : public engine::EngineInterface {
 public:
  Status Submit(engine::GenerateRequest request, engine::OutputSink sink) override {
    std::lock_guard lock(mu_);
    if (!reject_.ok()) return reject_;
    submitted_.push_back(request);
    sinks_[request.request_id] = std::move(sink);
    return OkStatus();
  }
  void Cancel(const std::string& request_id) override {
    std::lock_guard lock(mu_);
    cancelled_.push_back(request_id);
  }
  engine::EngineStats Stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

  void set_stats(const engine::EngineStats& s) {
    std::lock_guard lock(mu_);
    stats_ = s;
  }
  void set_reject(Status s) {
    std::lock_guard lock(mu_);
    reject_ = std::move(s);
  }
  std::vector<engine::GenerateRequest> submitted() const {
    std::lock_guard lock(mu_);
    return submitted_;
  }
  std::vector<std::string> cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }
  engine::OutputSink sink(const std::string& id) {
    std::lock_guard lock(mu_);
    return sinks_.at(id);
  }

 private:
  mutable std::mutex mu_;
  Status reject_;
  engine::EngineStats stats_;
  std::vector<engine::GenerateRequest> submitted_;
  std::vector<std::string> cancelled_;
  std::map<std::string, engine::OutputSink> sinks_;
};

}  // namespace mies::server::testing
