// MindIE's ranktable.json (HCCL rank table v1.0; reference section 3.2) and the cluster
// topology derived from it for this node.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/environment.h"

namespace mies::config {

struct RankDevice {
  int device_id = 0;      // local card index [0, 63]
  std::string device_ip;  // data-plane address of this rank
  int rank_id = 0;        // global rank [0, 511]
};

struct RankServer {
  std::string server_id;     // host IP (matched against $HOST_IP)
  std::string container_ip;  // matched against $MIES_CONTAINER_IP
  std::vector<RankDevice> devices;
};

struct RankTable {
  std::string version;
  std::string status;
  std::vector<RankServer> servers;

  int WorldSize() const;
  // Index of the server holding rank 0.
  int MasterIndex() const;
};

// Validates everything MindIE does, and more strictly (a mistake here hangs a cluster):
// rank_ids unique and contiguous from 0, device_ids unique per server. All errors at once.
StatusOr<RankTable> ParseRankTable(const nlohmann::json& document);

// Reads `path` under MindIE's file rules (regular file, owner, mode <= 0640), then parses.
StatusOr<RankTable> LoadRankTableFile(const std::string& path);

// This node's place in the cluster.
struct Topology {
  int local_server = 0;  // index into RankTable::servers
  int master_server = 0;
  bool is_master = false;
  int world_size = 0;                 // all ranks of all servers
  std::vector<int> local_ranks;       // global rank ids of this node's devices
  std::vector<int> local_device_ids;  // their device ids (npuDeviceIds after the override)
  std::string local_address;          // container_ip of this node
  std::string master_address;         // container_ip of the master
};

// Finds the local server by $MIES_CONTAINER_IP (container_ip), else $HOST_IP (server_id).
// No match is an error listing what was tried and what the table holds.
StatusOr<Topology> LocateLocalServer(const RankTable& table, const Environment& env);

}  // namespace mies::config
