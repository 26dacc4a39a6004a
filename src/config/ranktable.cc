#include "config/ranktable.h"

#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_check.h"
#include "common/json_depth.h"
#include "config/config.h"
#include "config/json_reader.h"

namespace mies::config {
namespace {

// Ranktable numbers are JSON strings ("2"); a bare number is also accepted.
bool ReadNumber(const nlohmann::json& obj, const std::string& key, const std::string& path, int min,
                int max, int* out, ErrorList* errors) {
  auto it = obj.find(key);
  std::string field = absl::StrCat(path, ".", key);
  if (it == obj.end()) {
    errors->Add(absl::StrCat(field, ": missing compulsory field"));
    return false;
  }
  int64_t v = 0;
  bool ok = false;
  if (it->is_string()) {
    ok = absl::SimpleAtoi(it->get<std::string>(), &v);
  } else if (it->is_number_integer()) {
    // Above INT64_MAX, get<int64_t>() would wrap to a negative (possibly in-range) value.
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX}) {
      errors->Add(
          absl::StrCat(field, ": value ", it->dump(), " is out of range [", min, ", ", max, "]"));
      return false;
    }
    v = it->get<int64_t>();
    ok = true;
  }
  if (!ok) {
    errors->Add(absl::StrCat(field, ": expected a number written as a string (\"0\"), got ",
                             DescribeValue(*it)));
    return false;
  }
  if (v < min || v > max) {
    errors->Add(absl::StrCat(field, ": value ", v, " is out of range [", min, ", ", max, "]"));
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

std::string ReadIp(const nlohmann::json& obj, const std::string& key, const std::string& path,
                   Presence presence, ErrorList* errors) {
  auto it = obj.find(key);
  std::string field = absl::StrCat(path, ".", key);
  if (it == obj.end()) {
    if (presence == kRequired) errors->Add(absl::StrCat(field, ": missing compulsory field"));
    return "";
  }
  if (!it->is_string() || it->get<std::string>().empty()) {
    errors->Add(
        absl::StrCat(field, ": expected a non-empty IP address string, got ", DescribeValue(*it)));
    return "";
  }
  std::string ip = it->get<std::string>();
  if (!IsValidIp(ip)) {
    errors->Add(absl::StrCat(field, ": \"", ip, "\" is not a valid IPv4 or IPv6 address"));
    return "";
  }
  return ip;
}

}  // namespace

int RankTable::WorldSize() const {
  int n = 0;
  for (const auto& s : servers) n += static_cast<int>(s.devices.size());
  return n;
}

int RankTable::MasterIndex() const {
  for (size_t i = 0; i < servers.size(); ++i) {
    for (const auto& d : servers[i].devices) {
      if (d.rank_id == 0) return static_cast<int>(i);
    }
  }
  return 0;
}

StatusOr<RankTable> ParseRankTable(const nlohmann::json& doc) {
  if (!doc.is_object()) {
    return InvalidArgument("ranktable: the top level must be a JSON object, got ",
                           DescribeValue(doc));
  }
  ErrorList errors;
  RankTable table;
  if (doc.contains("version") && doc["version"].is_string()) table.version = doc["version"];
  if (doc.contains("status") && doc["status"].is_string()) table.status = doc["status"];

  int server_count = 0;
  bool have_count = ReadNumber(doc, "server_count", "ranktable", 1, 60, &server_count, &errors);
  auto list = doc.find("server_list");
  if (list == doc.end() || !list->is_array()) {
    errors.Add(list == doc.end() ? "ranktable.server_list: missing compulsory field"
                                 : absl::StrCat("ranktable.server_list: expected a list, got ",
                                                DescribeValue(*list)));
    return InvalidArgument(absl::StrJoin(errors.errors(), "\n"));
  }
  if (have_count && static_cast<size_t>(server_count) != list->size()) {
    errors.Add(absl::StrCat("ranktable.server_count: value ", server_count,
                            " is not equal to the server_list length (", list->size(), ")"));
  }
  if (list->empty()) errors.Add("ranktable.server_list: must list at least one server");

  std::map<int, std::string> rank_owner;  // rank_id -> path of the device that holds it
  std::set<std::string> container_ips;
  for (size_t i = 0; i < list->size(); ++i) {
    const auto& s = (*list)[i];
    std::string path = absl::StrCat("ranktable.server_list[", i, "]");
    if (!s.is_object()) {
      errors.Add(absl::StrCat(path, ": expected an object, got ", DescribeValue(s)));
      continue;
    }
    RankServer server;
    server.server_id = ReadIp(s, "server_id", path, kRequired, &errors);
    server.container_ip = ReadIp(s, "container_ip", path, kRequired, &errors);
    if (!server.container_ip.empty() && !container_ips.insert(server.container_ip).second) {
      errors.Add(absl::StrCat(path, ".container_ip: \"", server.container_ip,
                              "\" is used by another server; rule: unique per server"));
    }
    auto devs = s.find("device");
    if (devs == s.end() || !devs->is_array() || devs->empty() || devs->size() > 32) {
      errors.Add(absl::StrCat(path, ".device: expected a list of 1 to 32 devices, got ",
                              devs == s.end() ? std::string("nothing") : DescribeValue(*devs)));
      table.servers.push_back(server);
      continue;
    }
    std::set<int> device_ids;
    for (size_t j = 0; j < devs->size(); ++j) {
      const auto& d = (*devs)[j];
      std::string dpath = absl::StrCat(path, ".device[", j, "]");
      if (!d.is_object()) {
        errors.Add(absl::StrCat(dpath, ": expected an object, got ", DescribeValue(d)));
        continue;
      }
      RankDevice device;
      bool ok = ReadNumber(d, "device_id", dpath, 0, 63, &device.device_id, &errors);
      if (ok && !device_ids.insert(device.device_id).second) {
        errors.Add(absl::StrCat(dpath, ".device_id: value ", device.device_id,
                                " appears twice on this server; rule: unique per server"));
      }
      device.device_ip = ReadIp(d, "device_ip", dpath, kRequired, &errors);
      if (ReadNumber(d, "rank_id", dpath, 0, 511, &device.rank_id, &errors)) {
        auto [it, inserted] = rank_owner.emplace(device.rank_id, dpath);
        if (!inserted) {
          errors.Add(absl::StrCat(dpath, ".rank_id: value ", device.rank_id, " is already used by ",
                                  it->second, "; rule: unique"));
        }
      }
      server.devices.push_back(device);
    }
    table.servers.push_back(std::move(server));
  }

  // Same device count everywhere, and ranks 0..N-1 with no gap.
  if (!table.servers.empty()) {
    size_t n = table.servers[0].devices.size();
    for (size_t i = 1; i < table.servers.size(); ++i) {
      if (table.servers[i].devices.size() != n && !table.servers[i].devices.empty()) {
        errors.Add(absl::StrCat("ranktable.server_list[", i, "].device: has ",
                                table.servers[i].devices.size(), " devices, server_list[0] has ", n,
                                "; rule: the same number of devices on every server"));
      }
    }
  }
  int expected = 0;
  for (const auto& [rank, owner] : rank_owner) {
    if (rank != expected) {
      errors.Add(absl::StrCat("ranktable: rank_id ", expected, " is missing (", owner,
                              " has rank_id ", rank, "); rule: rank_ids contiguous from 0"));
      break;
    }
    ++expected;
  }
  if (!errors.empty()) return InvalidArgument(absl::StrJoin(errors.errors(), "\n"));
  return table;
}

StatusOr<RankTable> LoadRankTableFile(const std::string& path) {
  MIES_ASSIGN_OR_RETURN(std::string text,
                        ReadCheckedFile(path, RuleFromEnv(kConfigFileMode), "ranktable"));
  MIES_RETURN_IF_ERROR(CheckJsonTextDepth(text, "ranktable " + path));
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("ranktable ", path, ": is not valid JSON");
  auto parsed = ParseRankTable(doc);
  if (!parsed.ok()) {
    return InvalidArgument("ranktable ", path, ":\n", parsed.status().message());
  }
  return parsed;
}

StatusOr<Topology> LocateLocalServer(const RankTable& table, const Environment& env) {
  std::string container_ip = env.Get("MIES_CONTAINER_IP").value_or("");
  std::string host_ip = env.Get("HOST_IP").value_or("");
  if (container_ip.empty() && host_ip.empty()) {
    return InvalidArgument(
        "multi-node: neither $MIES_CONTAINER_IP (container) nor $HOST_IP (bare metal) is set; "
        "set one to this node's container_ip or server_id in the ranktable");
  }
  if (!host_ip.empty() && container_ip.empty() && !IsValidIp(host_ip)) {
    return InvalidArgument("$HOST_IP=\"", host_ip, "\" is not a valid IP address");
  }
  int local = -1;
  for (size_t i = 0; i < table.servers.size() && local < 0; ++i) {
    if (!container_ip.empty() && table.servers[i].container_ip == container_ip) local = i;
  }
  for (size_t i = 0; i < table.servers.size() && local < 0 && container_ip.empty(); ++i) {
    if (table.servers[i].server_id == host_ip) local = i;
  }
  if (local < 0) {
    std::vector<std::string> listed;
    for (const auto& s : table.servers) {
      listed.push_back(absl::StrCat(s.container_ip, " (server_id ", s.server_id, ")"));
    }
    std::string tried = !container_ip.empty()
                            ? absl::StrCat("$MIES_CONTAINER_IP=", container_ip, " as container_ip")
                            : absl::StrCat("$HOST_IP=", host_ip, " as server_id");
    return NotFound("multi-node: no server in the ranktable matches this node: tried ", tried,
                    "; the ranktable lists ", absl::StrJoin(listed, ", "));
  }
  Topology t;
  t.local_server = local;
  t.master_server = table.MasterIndex();
  t.is_master = local == t.master_server;
  t.world_size = table.WorldSize();
  for (const auto& d : table.servers[local].devices) {
    t.local_ranks.push_back(d.rank_id);
    t.local_device_ids.push_back(d.device_id);
  }
  t.local_address = table.servers[local].container_ip;
  t.master_address = table.servers[t.master_server].container_ip;
  return t;
}

}  // namespace mies::config
