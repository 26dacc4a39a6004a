// mies-certs (installed as bin/mies-certs): imports TLS material for a plane into the install
// home and checks what a config.json references.
//   mies-certs import --plane service --ca ca.pem --cert server.pem --key server.key.pem
//       [--key-password-file pass.txt] [--crl crl.pem] [--node-address 127.0.1.1] [--home DIR]
//   mies-certs check [--config conf/config.json] [--home DIR] [--plane internode]
// Exit status: 0 ok, 1 a check failed (nothing imported), 2 bad usage or unreadable config.
// Throw-away material for local clusters: scripts/gen-certs.sh OUTDIR [--ip 127.0.1.1 ...].
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "certs/config_planes.h"
#include "certs/import.h"
#include "certs/plane.h"
#include "common/file_check.h"
#include "config/config.h"
#include "config/environment.h"
#include "config/tls_planes.h"

namespace {

using mies::certs::Plane;

std::string ExecutablePath() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

mies::StatusOr<mies::config::Config> LoadConfig(const std::string& home_flag,
                                                const std::string& config_flag) {
  mies::config::ProcessEnvironment env;
  std::string home = home_flag;
  if (home.empty()) {
    MIES_ASSIGN_OR_RETURN(home, mies::config::ResolveHome(ExecutablePath(), env));
  } else {
    std::error_code ec;
    home = std::filesystem::weakly_canonical(home, ec).string();
  }
  return mies::config::LoadConfigFile(mies::config::ResolveConfigPath(config_flag, home, env), home,
                                      env);
}

// Paths under the home are shown relative to it, as config.json writes them.
std::string Shorten(const std::string& path, const std::string& home) {
  if (!home.empty() && path.rfind(home + "/", 0) == 0) return path.substr(home.size() + 1);
  return path;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int RunImport(const mies::certs::ImportRequest& req, const std::string& home,
              const std::string& config_path) {
  auto config = LoadConfig(home, config_path);
  if (!config.ok()) {
    std::cerr << "mies-certs import: " << config.status().message() << "\n";
    return 2;
  }
  mies::certs::ImportResult r = mies::certs::ImportPlane(*config, req);
  // The first error is part of the status message; print the other problems before it.
  const mies::certs::Finding* first_error = r.report.FirstError();
  for (const mies::certs::Finding* f : r.report.Problems()) {
    if (f != first_error) std::cerr << f->Line() << "\n";
  }
  if (!r.status.ok()) {
    std::cerr << "mies-certs import: " << r.status.message() << "\n";
    return 1;
  }
  for (const auto& f : r.files) {
    std::cout << "imported " << f.role << " " << f.source << " -> "
              << Shorten(f.target, config->home) << " (" << mies::ModeString(f.mode) << ")\n";
  }
  for (const std::string& n : r.notes) std::cout << "note: " << n << "\n";
  std::cout << mies::certs::PlaneName(req.plane) << " plane: " << r.files.size()
            << " files imported into " << config->home << "\n";
  return 0;
}

int RunCheck(const std::string& home, const std::string& config_path,
             const std::vector<std::string>& plane_names, const std::string& node_address) {
  auto config = LoadConfig(home, config_path);
  if (!config.ok()) {
    std::cerr << "mies-certs check: " << config.status().message() << "\n";
    return 2;
  }
  std::vector<Plane> planes;
  for (const std::string& name : plane_names) {
    auto p = mies::certs::ParsePlane(name);
    if (!p.ok()) {
      std::cerr << "mies-certs check: " << p.status().message() << "\n";
      return 2;
    }
    planes.push_back(*p);
  }
  if (planes.empty()) planes = mies::certs::EnabledPlanes(*config);
  if (planes.empty()) {
    std::cout << "no TLS plane is enabled in " << config->source_path
              << " (httpsEnabled is false; interNodeTLSEnabled needs multiNodesInferEnabled); "
                 "use --plane to check one anyway\n";
    return 0;
  }
  std::vector<std::vector<std::string>> table = {
      {"PLANE", "ROLE", "FILE", "SUBJECT", "EXPIRY", "STATUS"}};
  std::vector<std::string> problems;
  bool failed = false;
  for (Plane plane : planes) {
    mies::certs::PlaneMaterial m = mies::certs::MaterialFromConfig(*config, plane);
    if (mies::config::TlsPlaneOf(plane).node_identity) m.node_address = node_address;
    mies::certs::PlaneReport report = mies::certs::RunPlaneChecks(m);
    for (const auto& row : report.rows) {
      table.push_back({mies::certs::PlaneName(plane), row.role, Shorten(row.file, config->home),
                       row.subject, row.expiry, mies::certs::SeverityName(row.status)});
    }
    for (const mies::certs::Finding* f : report.Problems()) {
      problems.push_back(std::string(mies::certs::PlaneName(plane)) + ": " + f->Line());
    }
    failed = failed || !report.ok();
  }
  PrintTable(table);
  for (const std::string& p : problems) std::cout << p << "\n";
  std::cout << (failed ? "check FAILED" : "check passed") << " (" << planes.size()
            << " planes, config " << config->source_path << ")\n";
  return failed ? 1 : 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"mies-certs: import and check TLS material for mies (MindIE-compatible layout)"};
  app.require_subcommand(1);

  std::string home;
  std::string config_path;
  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--home", home, "install home (default: $MINDIE_LLM_HOME_PATH, else <bin>/..)");
    cmd->add_option("--config", config_path,
                    "config.json (default: $MIES_CONFIG_JSON_PATH, else <home>/conf/config.json)");
  };

  mies::certs::ImportRequest req;
  std::string plane_name;
  CLI::App* imp =
      app.add_subcommand("import",
                         "check a plane's CA, certificate, key and CRLs, then install them where "
                         "config.json names them (nothing is installed when a check fails)");
  common(imp);
  imp->add_option("--plane", plane_name, "service | management | metrics | internode")->required();
  imp->add_option("--ca", req.ca_files, "CA certificate PEM (1 to 3; repeat the flag)")->required();
  imp->add_option("--cert", req.cert_file, "server/node certificate PEM")->required();
  imp->add_option("--key", req.key_file, "its private key PEM (plain or encrypted)")->required();
  imp->add_option("--key-password-file", req.key_password_file,
                  "file holding the password of an encrypted key (first line)");
  imp->add_option("--crl", req.crl_files, "CRL PEM (0 to 3; repeat the flag)");
  imp->add_option("--node-address", req.node_address,
                  "address (ranktable IP or hostname) the certificate's subjectAltName must cover");

  std::vector<std::string> check_planes;
  std::string check_address;
  CLI::App* chk = app.add_subcommand(
      "check", "check the TLS material config.json references for every enabled plane");
  common(chk);
  chk->add_option("--plane", check_planes,
                  "check these planes even when config.json does not enable them");
  chk->add_option("--node-address", check_address,
                  "this node's ranktable address: the internode certificate must cover it");

  CLI11_PARSE(app, argc, argv);

  if (imp->parsed()) {
    auto plane = mies::certs::ParsePlane(plane_name);
    if (!plane.ok()) {
      std::cerr << "mies-certs import: " << plane.status().message() << "\n";
      return 2;
    }
    req.plane = *plane;
    return RunImport(req, home, config_path);
  }
  return RunCheck(home, config_path, check_planes, check_address);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {  // std::filesystem and allocation failures
    std::cerr << "mies-certs: " << e.what() << "\n";
    return 2;
  }
}
