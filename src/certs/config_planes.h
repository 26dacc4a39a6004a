// Each plane's TLS material as a parsed config.json (mies_config) names it, as absolute paths,
// and which planes a configuration turns on. What varies per plane comes from the plane table
// (config/tls_planes.h).
#pragma once

#include <string>
#include <vector>

#include "certs/plane.h"
#include "config/config.h"

namespace mies::certs {

// The plane's files as absolute paths (relative ones resolved against the install home).
// `key_password_file` is the configured password file, if any.
PlaneMaterial MaterialFromConfig(const config::Config& config, Plane plane);

// Planes whose TLS material the daemon would load, in table order: service when httpsEnabled;
// management and metrics too unless the three planes share one listener; internode when
// multiNodesInferEnabled and interNodeTLSEnabled.
std::vector<Plane> EnabledPlanes(const config::Config& config);

// The daemon's start-up check: CheckPlaneMaterial (file rules included) for every enabled
// plane. `node_address` is this node's ranktable address (empty: no SAN check on the
// internode certificate). The first failure names the plane, the file and the reason.
Status CheckEnabledPlanes(const config::Config& config, const std::string& node_address = "");

}  // namespace mies::certs
