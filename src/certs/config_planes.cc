#include "certs/config_planes.h"

#include <filesystem>

#include "config/tls_planes.h"

namespace mies::certs {

PlaneMaterial MaterialFromConfig(const config::Config& config, Plane plane) {
  const config::TlsMaterial& t = config::PlaneTls(config, plane);
  auto in_dir = [&](const std::string& dir, const std::string& name) {
    return config.Resolve((std::filesystem::path(dir) / name).string());
  };
  PlaneMaterial m;
  m.plane = plane;
  for (const std::string& ca : t.ca_files) m.ca_files.push_back(in_dir(t.ca_path, ca));
  m.cert_file = config.Resolve(t.cert);
  m.key_file = config.Resolve(t.key);
  m.key_password_file = config.Resolve(t.key_password_file);
  for (const std::string& crl : t.crl_files) m.crl_files.push_back(in_dir(t.crl_path, crl));
  return m;
}

std::vector<Plane> EnabledPlanes(const config::Config& config) {
  const config::TlsSwitches switches = config::SwitchesOf(config);
  std::vector<Plane> planes;
  for (Plane plane : kAllPlanes) {
    if (config::PlaneOn(config::TlsPlaneOf(plane), switches)) planes.push_back(plane);
  }
  return planes;
}

Status CheckEnabledPlanes(const config::Config& config, const std::string& node_address) {
  for (Plane plane : EnabledPlanes(config)) {
    PlaneMaterial m = MaterialFromConfig(config, plane);
    if (config::TlsPlaneOf(plane).node_identity) m.node_address = node_address;
    MIES_RETURN_IF_ERROR(CheckPlaneMaterial(m));
  }
  return OkStatus();
}

}  // namespace mies::certs
