#include "fixture_util.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mies::jinja::testing {

std::string FixturePath(const std::string& relative) {
  return std::string(MIES_SOURCE_DIR) + "/tests/jinja/fixtures/" + relative;
}

std::string SharedPath(const std::string& relative) {
  return std::string(MIES_SHARED_DIR) + "/" + relative;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

nlohmann::ordered_json LoadJson(const std::string& path) {
  return nlohmann::ordered_json::parse(ReadFile(path));
}

}  // namespace mies::jinja::testing
