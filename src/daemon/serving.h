// What the daemon runs once the configuration is valid: the model, tokenizer and engine
// (engine::CreateLocalEngine), the chat template, and the HTTP planes (server::HttpServer).
#pragma once

#include <memory>

#include "common/status.h"
#include "config/environment.h"
#include "daemon/startup.h"
#include "engine/step_plan.h"

namespace mies::daemon {

class Serving {
 public:
  virtual ~Serving() = default;
};

// Loads everything and opens every plane; on return the daemon may print its success line.
// /stopService ends the process the way SIGTERM does (graceful) or at once (?mode=Force).
// `cluster_executor` (multi-node master): run the engine's steps on every rank of the cluster
// instead of a local model; it must outlive the returned Serving.
StatusOr<std::unique_ptr<Serving>> StartServing(const StartupState& state,
                                                const config::Environment& env,
                                                engine::Executor* cluster_executor = nullptr);

}  // namespace mies::daemon
