#include "config/tls_planes.h"

#include "absl/strings/str_cat.h"

namespace mies::config {

const char* SectionOf(const TlsPlaneSpec& spec) {
  return spec.server_field != nullptr ? "ServerConfig" : "BackendConfig";
}

std::string KeyPath(const TlsPlaneSpec& spec, const char* key) {
  return absl::StrCat(SectionOf(spec), ".", key);
}

TlsMaterial DefaultTlsMaterial(const TlsPlaneSpec& spec) {
  const TlsPlaneDefaults& d = spec.defaults;
  TlsMaterial t;
  t.ca_path = d.ca_path;
  t.ca_files = {d.ca_file};
  t.cert = d.cert;
  t.key = d.key;
  t.crl_path = d.crl_path;
  t.crl_files = {d.crl_file};
  return t;
}

const TlsMaterial& PlaneTls(const Config& config, TlsPlane plane) {
  const TlsPlaneSpec& spec = TlsPlaneOf(plane);
  return spec.server_field != nullptr ? config.server.*spec.server_field
                                      : config.backend.*spec.backend_field;
}

TlsSwitches SwitchesOf(const Config& config) {
  return {.https = config.server.https_enabled,
          .http_planes_merged = config.server.PlanesMerged(),
          .inter_node_tls =
              config.backend.multi_nodes_infer_enabled && config.backend.inter_node_tls_enabled};
}

bool PlaneOn(const TlsPlaneSpec& spec, const TlsSwitches& switches) {
  switch (spec.on_when) {
    case TlsPlaneSwitch::kHttps:
      return switches.https;
    case TlsPlaneSwitch::kHttpsOwnListener:
      return switches.https && !switches.http_planes_merged;
    case TlsPlaneSwitch::kInterNodeTls:
      return switches.inter_node_tls;
    case TlsPlaneSwitch::kNever:
      break;
  }
  return false;
}

}  // namespace mies::config
