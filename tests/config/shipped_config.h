// The repository's conf/config.json, parsed: the document config tests edit.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace mies::config {

inline nlohmann::json ShippedConfig() {
  std::ifstream in(std::string(MIES_SOURCE_DIR) + "/conf/config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

}  // namespace mies::config
