// config.json and ranktable.json: the daemon's loaders, file rules included, then what the
// daemon does next with a loaded file (the startup dump; locating this node in the ranktable).
#include "config/config.h"
#include "config/ranktable.h"
#include "entries.h"
#include "support.h"

namespace mies::fuzz {

Status FuzzConfigJson(std::string_view data) {
  const std::string path = WriteScratchFile("config.json", data);
  config::MapEnvironment env{{"MIES_CONTAINER_IP", "127.0.0.1"}};
  auto loaded = config::LoadConfigFile(path, ScratchDir(), env);
  if (!loaded.ok()) return loaded.status();
  // What startup does with a valid file: print the effective configuration, resolve paths.
  (void)loaded->ToJson().dump();
  (void)loaded->ModelWeightPath();
  (void)loaded->server.PlanesMerged();
  (void)loaded->backend.model_deploy.EffectiveMaxInputTokens();
  return OkStatus();
}

Status FuzzRankTable(std::string_view data) {
  const std::string path = WriteScratchFile("ranktable.json", data);
  auto table = config::LoadRankTableFile(path);
  if (!table.ok()) return table.status();
  (void)table->WorldSize();
  (void)table->MasterIndex();
  // Both ways a node finds itself: container IP, and host IP (bare metal).
  Status last = OkStatus();
  for (const auto& env : {config::MapEnvironment{{"MIES_CONTAINER_IP", "127.0.1.1"}},
                          config::MapEnvironment{{"HOST_IP", "127.0.1.2"}}}) {
    auto topo = config::LocateLocalServer(*table, env);
    if (!topo.ok()) last = topo.status();
  }
  return last;
}

}  // namespace mies::fuzz
