// Helpers shared by the jinja tests: locating and loading the committed fixtures.
#pragma once

#include <string>

#include "nlohmann/json.hpp"

namespace mies::jinja::testing {

std::string FixturePath(const std::string& relative);  // under tests/jinja/fixtures
std::string SharedPath(const std::string& relative);   // under the shared reference folder
std::string ReadFile(const std::string& path);
nlohmann::ordered_json LoadJson(const std::string& path);

}  // namespace mies::jinja::testing
