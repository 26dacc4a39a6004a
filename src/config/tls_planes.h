// The TLS planes and, in one table, what mies knows about each plane's material: its
// config.json keys, MindIE's defaults, when the material is compulsory and loaded, and how its
// certificate is used. config.cc reads, checks and dumps the keys from this table; certs/ takes
// plane names, file paths and the keys named in its messages from it.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "config/config.h"

namespace mies::config {

enum class TlsPlane { kService, kManagement, kMetrics, kInterNode, kInterComm };

// File counts MindIE allows per plane.
inline constexpr size_t kMinCaFiles = 1;
inline constexpr size_t kMaxCaFiles = 3;
inline constexpr size_t kMaxCrlFiles = 3;

// When a plane's material is compulsory in config.json, checked at start-up and loaded.
enum class TlsPlaneSwitch {
  kHttps,             // httpsEnabled
  kHttpsOwnListener,  // httpsEnabled, and the three HTTP planes do not share one listener
  kInterNodeTls,      // multiNodesInferEnabled and interNodeTLSEnabled
  kNever,             // parsed and dumped only: mies runs no P-D plane (inferMode dmi is refused)
};

// The values those switches depend on.
struct TlsSwitches {
  bool https = false;
  bool http_planes_merged = false;
  bool inter_node_tls = false;
};

// config.json key names of one plane, all in the plane's section.
struct TlsPlaneKeys {
  const char* ca_path = nullptr;  // null: the CA files live in the service plane's tlsCaPath
  const char* ca_files = nullptr;
  const char* cert = nullptr;
  const char* key = nullptr;
  const char* crl_path = nullptr;
  const char* crl_files = nullptr;
  const char* key_password = nullptr;    // optional password file of an encrypted key
  std::array<const char*, 2> removed{};  // KMC keys MindIE dropped: accepted and ignored
};

// MindIE's defaults, relative to the install home.
struct TlsPlaneDefaults {
  const char* ca_path = "";  // empty: the service plane's CA directory
  const char* ca_file = "";
  const char* cert = "";
  const char* key = "";
  const char* crl_path = "";
  const char* crl_file = "";
  // Where `mies-certs import` puts a password file when config.json names none (the default of
  // older MindIE releases); empty for planes that mies-certs does not handle.
  const char* import_password_file = "";
};

struct TlsPlaneSpec {
  TlsPlane plane;
  const char* name;         // mies-certs --plane value; starts messages ("service plane: ...")
  const char* description;  // names the plane's files in config file checks
  // Where the parsed material lives: exactly one of the two is set; it also gives the section.
  TlsMaterial ServerConfig::*server_field = nullptr;
  TlsMaterial BackendConfig::*backend_field = nullptr;
  TlsPlaneSwitch on_when;
  // The certificate identifies a node to other nodes: it serves as TLS server and client, and
  // its subjectAltName must cover the node's ranktable address.
  bool node_identity = false;
  TlsPlaneKeys keys;
  TlsPlaneDefaults defaults;
};

// Rows in TlsPlane order.
inline constexpr TlsPlaneSpec kTlsPlanes[] = {
    {.plane = TlsPlane::kService,
     .name = "service",
     .description = "service plane",
     .server_field = &ServerConfig::service_tls,
     .on_when = TlsPlaneSwitch::kHttps,
     .keys = {.ca_path = "tlsCaPath",
              .ca_files = "tlsCaFile",
              .cert = "tlsCert",
              .key = "tlsPk",
              .crl_path = "tlsCrlPath",
              .crl_files = "tlsCrlFiles",
              .key_password = "tlsPkPwd",
              .removed = {"kmcKsfMaster", "kmcKsfStandby"}},
     .defaults = {.ca_path = "security/ca/",
                  .ca_file = "ca.pem",
                  .cert = "security/certs/server.pem",
                  .key = "security/keys/server.key.pem",
                  .crl_path = "security/certs/",
                  .crl_file = "server_crl.pem",
                  .import_password_file = "security/pass/key_pwd.txt"}},
    {.plane = TlsPlane::kManagement,
     .name = "management",
     .description = "management plane",
     .server_field = &ServerConfig::management_tls,
     .on_when = TlsPlaneSwitch::kHttpsOwnListener,
     .keys = {.ca_files = "managementTlsCaFile",
              .cert = "managementTlsCert",
              .key = "managementTlsPk",
              .crl_path = "managementTlsCrlPath",
              .crl_files = "managementTlsCrlFiles",
              .key_password = "managementTlsPkPwd",
              .removed = {"managementKmcKsfMaster", "managementKmcKsfStandby"}},
     .defaults = {.ca_file = "management_ca.pem",
                  .cert = "security/certs/management/server.pem",
                  .key = "security/keys/management/server.key.pem",
                  .crl_path = "security/management/certs/",
                  .crl_file = "server_crl.pem",
                  .import_password_file = "security/pass/management/key_pwd.txt"}},
    {.plane = TlsPlane::kMetrics,
     .name = "metrics",
     .description = "metrics plane",
     .server_field = &ServerConfig::metrics_tls,
     .on_when = TlsPlaneSwitch::kHttpsOwnListener,
     .keys = {.ca_files = "metricsTlsCaFile",
              .cert = "metricsTlsCert",
              .key = "metricsTlsPk",
              .crl_path = "metricsTlsCrlPath",
              .crl_files = "metricsTlsCrlFiles",
              .key_password = "metricsTlsPkPwd",
              .removed = {"metricsKmcKsfMaster", "metricsKmcKsfStandby"}},
     .defaults = {.ca_file = "metrics_ca.pem",
                  .cert = "security/certs/metrics/server.pem",
                  .key = "security/keys/metrics/server.key.pem",
                  .crl_path = "security/metrics/certs/",
                  .crl_file = "server_crl.pem",
                  .import_password_file = "security/pass/metrics/key_pwd.txt"}},
    {.plane = TlsPlane::kInterNode,
     .name = "internode",
     .description = "inter-node",
     .backend_field = &BackendConfig::inter_node_tls,
     .on_when = TlsPlaneSwitch::kInterNodeTls,
     .node_identity = true,
     .keys = {.ca_path = "interNodeTlsCaPath",
              .ca_files = "interNodeTlsCaFiles",
              .cert = "interNodeTlsCert",
              .key = "interNodeTlsPk",
              .crl_path = "interNodeTlsCrlPath",
              .crl_files = "interNodeTlsCrlFiles",
              .key_password = "interNodeTlsPkPwd",
              .removed = {"interNodeKmcKsfMaster", "interNodeKmcKsfStandby"}},
     .defaults = {.ca_path = "security/grpc/ca/",
                  .ca_file = "ca.pem",
                  .cert = "security/grpc/certs/server.pem",
                  .key = "security/grpc/keys/server.key.pem",
                  .crl_path = "security/grpc/certs/",
                  .crl_file = "server_crl.pem",
                  .import_password_file = "security/grpc/pass/mindie_server_key_pwd.txt"}},
    {.plane = TlsPlane::kInterComm,
     .name = "intercomm",
     .description = "inter-comm",
     .server_field = &ServerConfig::inter_comm_tls,
     .on_when = TlsPlaneSwitch::kNever,
     .node_identity = true,
     .keys = {.ca_path = "interCommTlsCaPath",
              .ca_files = "interCommTlsCaFiles",
              .cert = "interCommTlsCert",
              .key = "interCommPk",
              .crl_path = "interCommTlsCrlPath",
              .crl_files = "interCommTlsCrlFiles",
              .key_password = "interCommPkPwd",
              .removed = {"interCommKmcKsfMaster", "interCommKmcKsfStandby"}},
     .defaults = {.ca_path = "security/grpc/ca/",
                  .ca_file = "ca.pem",
                  .cert = "security/grpc/certs/server.pem",
                  .key = "security/grpc/keys/server.key.pem",
                  .crl_path = "security/grpc/certs/",
                  .crl_file = "server_crl.pem"}},
};

constexpr const TlsPlaneSpec& TlsPlaneOf(TlsPlane plane) {
  return kTlsPlanes[static_cast<size_t>(plane)];
}

static_assert([] {
  for (size_t i = 0; i < std::size(kTlsPlanes); ++i) {
    const TlsPlaneSpec& p = kTlsPlanes[i];
    if (p.plane != static_cast<TlsPlane>(i)) return false;
    if ((p.server_field == nullptr) == (p.backend_field == nullptr)) return false;
    const TlsPlaneKeys& k = p.keys;
    for (const char* key : {k.ca_files, k.cert, k.key, k.crl_path, k.crl_files, k.key_password}) {
      if (key == nullptr) return false;
    }
  }
  return true;
}());

// Planes whose material mies checks and loads (all but inter-comm), in table order.
inline constexpr auto kLoadedTlsPlanes = [] {
  constexpr size_t n = [] {
    size_t count = 0;
    for (const TlsPlaneSpec& p : kTlsPlanes) count += p.on_when != TlsPlaneSwitch::kNever;
    return count;
  }();
  std::array<TlsPlane, n> planes{};
  size_t i = 0;
  for (const TlsPlaneSpec& p : kTlsPlanes) {
    if (p.on_when != TlsPlaneSwitch::kNever) planes[i++] = p.plane;
  }
  return planes;
}();

// "ServerConfig" or "BackendConfig".
const char* SectionOf(const TlsPlaneSpec& spec);
// The key's full path for messages: "BackendConfig.interNodeTlsCaFiles".
std::string KeyPath(const TlsPlaneSpec& spec, const char* key);

// The plane's material as MindIE's defaults give it (ca_path empty where the plane shares the
// service plane's CA directory).
TlsMaterial DefaultTlsMaterial(const TlsPlaneSpec& spec);

const TlsMaterial& PlaneTls(const Config& config, TlsPlane plane);
TlsSwitches SwitchesOf(const Config& config);
bool PlaneOn(const TlsPlaneSpec& spec, const TlsSwitches& switches);

}  // namespace mies::config
