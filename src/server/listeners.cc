#include <algorithm>

#include "certs/config_planes.h"
#include "server/http_server.h"

namespace mies::server {

std::string ListenerSpec::Address() const {
  bool v6 = ip.find(':') != std::string::npos && ip.front() != '[';
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

StatusOr<std::vector<ListenerSpec>> PlanListeners(const config::Config& config) {
  const auto& s = config.server;
  auto strip = [](std::string ip) {
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    return ip;
  };
  struct PlaneAddr {
    unsigned bit;
    certs::Plane plane;
    std::string ip;
    int port;
  };
  const std::string mgmt_ip = strip(s.EffectiveManagementIp());
  const PlaneAddr planes[] = {
      {kServicePlane, certs::Plane::kService, strip(s.ip_address), s.port},
      {kManagementPlane, certs::Plane::kManagement, mgmt_ip, s.management_port},
      {kMetricsPlane, certs::Plane::kMetrics, mgmt_ip, s.metrics_port},
  };
  std::vector<ListenerSpec> out;
  for (const auto& p : planes) {
    if (!s.allow_all_zero_ip_listening && config::IsAllZeroAddress(p.ip)) {
      return InvalidArgument("listening on all-zero address ", p.ip,
                             " is refused unless ServerConfig.allowAllZeroIpListening is true");
    }
    auto same = std::find_if(out.begin(), out.end(), [&](const ListenerSpec& l) {
      return l.ip == p.ip && l.port == p.port;
    });
    if (same != out.end()) {
      same->planes |= p.bit;
      continue;
    }
    // The same port on an all-zero address and a specific one would collide at bind time.
    for (const auto& l : out) {
      if (l.port == p.port && (config::IsAllZeroAddress(l.ip) || config::IsAllZeroAddress(p.ip))) {
        return InvalidArgument("port ", p.port, " is used by two planes on overlapping addresses ",
                               l.ip, " and ", p.ip);
      }
    }
    ListenerSpec spec;
    spec.ip = p.ip;
    spec.port = p.port;
    spec.planes = p.bit;
    if (s.https_enabled) {
      certs::PlaneMaterial m = certs::MaterialFromConfig(config, p.plane);
      TlsSettings tls;
      tls.ca_files = m.ca_files;
      tls.cert_file = m.cert_file;
      tls.key_file = m.key_file;
      tls.key_password_file = m.key_password_file;
      tls.crl_files = m.crl_files;
      tls.min_version = s.tls_min_version;
      spec.tls = std::move(tls);
    }
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace mies::server
