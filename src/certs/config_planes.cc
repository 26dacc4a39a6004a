#include "certs/config_planes.h"

#include <filesystem>

namespace mies::certs {

const config::TlsMaterial& PlaneTls(const config::Config& config, Plane plane) {
  switch (plane) {
    case Plane::kService:
      return config.server.service_tls;
    case Plane::kManagement:
      return config.server.management_tls;
    case Plane::kMetrics:
      return config.server.metrics_tls;
    case Plane::kInterNode:
      break;
  }
  return config.backend.inter_node_tls;
}

PlaneMaterial MaterialFromConfig(const config::Config& config, Plane plane) {
  const config::TlsMaterial& t = PlaneTls(config, plane);
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

std::string DefaultPasswordFile(Plane plane) {
  switch (plane) {
    case Plane::kService:
      return "security/pass/key_pwd.txt";
    case Plane::kManagement:
      return "security/pass/management/key_pwd.txt";
    case Plane::kMetrics:
      return "security/pass/metrics/key_pwd.txt";
    case Plane::kInterNode:
      break;
  }
  return "security/grpc/pass/mindie_server_key_pwd.txt";
}

std::string PasswordConfigKey(Plane plane) {
  switch (plane) {
    case Plane::kService:
      return "ServerConfig.tlsPkPwd";
    case Plane::kManagement:
      return "ServerConfig.managementTlsPkPwd";
    case Plane::kMetrics:
      return "ServerConfig.metricsTlsPkPwd";
    case Plane::kInterNode:
      break;
  }
  return "BackendConfig.interNodeTlsPkPwd";
}

std::vector<Plane> EnabledPlanes(const config::Config& config) {
  std::vector<Plane> planes;
  if (config.server.https_enabled) {
    planes.push_back(Plane::kService);
    if (!config.server.PlanesMerged()) {
      planes.push_back(Plane::kManagement);
      planes.push_back(Plane::kMetrics);
    }
  }
  if (config.backend.multi_nodes_infer_enabled && config.backend.inter_node_tls_enabled) {
    planes.push_back(Plane::kInterNode);
  }
  return planes;
}

Status CheckEnabledPlanes(const config::Config& config, const std::string& node_address) {
  for (Plane plane : EnabledPlanes(config)) {
    PlaneMaterial m = MaterialFromConfig(config, plane);
    if (plane == Plane::kInterNode) m.node_address = node_address;
    MIES_RETURN_IF_ERROR(CheckPlaneMaterial(m));
  }
  return OkStatus();
}

}  // namespace mies::certs
