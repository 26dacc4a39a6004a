// Where each plane's TLS material lives, taken from a parsed config.json (mies_config), and
// which planes a configuration turns on.
#pragma once

#include <string>
#include <vector>

#include "certs/plane.h"
#include "config/config.h"

namespace mies::certs {

// The config.json block of a plane (service_tls, management_tls, metrics_tls, inter_node_tls).
const config::TlsMaterial& PlaneTls(const config::Config& config, Plane plane);

// The plane's files as absolute paths (relative ones resolved against the install home).
// `key_password_file` is the configured *PkPwd file, if any.
PlaneMaterial MaterialFromConfig(const config::Config& config, Plane plane);

// Where an imported password file goes when config.json names none (MindIE's old defaults),
// relative to the home, and the config.json key that names it.
std::string DefaultPasswordFile(Plane plane);
std::string PasswordConfigKey(Plane plane);

// Planes whose TLS material the daemon would load: service when httpsEnabled; management and
// metrics too unless the three planes share one listener; internode when multiNodesInferEnabled
// and interNodeTLSEnabled.
std::vector<Plane> EnabledPlanes(const config::Config& config);

// The daemon's start-up check: CheckPlaneMaterial (file rules included) for every enabled
// plane. `node_address` is this node's ranktable address (empty: no SAN check on the
// internode certificate). The first failure names the plane, the file and the reason.
Status CheckEnabledPlanes(const config::Config& config, const std::string& node_address = "");

}  // namespace mies::certs
