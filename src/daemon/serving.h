// What the daemon runs once the configuration is valid: the engine over an executor (local or
// cluster), its tokenizer and chat template, and the HTTP planes (server::HttpServer).
#pragma once

#include <functional>
#include <memory>

#include "common/status.h"
#include "config/environment.h"
#include "daemon/startup.h"
#include "engine/step_plan.h"
#include "server/cluster_view.h"

namespace mies::daemon {

class Serving {
 public:
  virtual ~Serving() = default;
};

// Reads ServerConfig.apiKeyFile into state.api_keys when it is set (logging must be up: the
// number of keys is logged). An error names the field, the file and the rule it breaks; the
// daemon calls this before it loads the model, so a bad key file fails the start at once.
Status LoadApiKeys(StartupState& state);

// What the console shows that only the daemon's caller knows: a master's cluster view
// (MasterSnapshot) and its expert groups. A null view describes this one node (state "single").
struct ConsoleFacts {
  std::function<server::ClusterSnapshot()> cluster_view;
  int moe_ep = 1;
};

// Loads everything and opens every plane; on return the daemon may print its success line.
// Keys in `state.api_keys` guard the service plane (LoadApiKeys runs first if they are not
// loaded yet).
// /stopService ends the process the way SIGTERM does (graceful) or at once (?mode=Force).
// The engine owns `executor` (executor::LocalExecutor, or the multi-node master's
// executor::ClusterExecutor): destroying the Serving closes the planes, stops the engine, then
// the executor (for a cluster, an orderly shutdown of every node).
StatusOr<std::unique_ptr<Serving>> StartServing(const StartupState& state,
                                                const config::Environment& env,
                                                std::unique_ptr<engine::Executor> executor,
                                                ConsoleFacts console = {});

}  // namespace mies::daemon
