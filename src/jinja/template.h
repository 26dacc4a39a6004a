// A parsed Jinja2 template (the subset Hugging Face chat templates use) and its renderer.
// Rendering follows jinja2 with transformers' settings: ImmutableSandboxedEnvironment,
// trim_blocks, lstrip_blocks, loop controls, and the tojson / raise_exception / strftime_now
// helpers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "jinja/ast.h"
#include "jinja/value.h"
#include "nlohmann/json.hpp"

namespace mies::jinja {

class Template {
 public:
  // Fails with InvalidArgument naming the line and construct for syntax errors and for
  // anything outside the supported subset.
  static StatusOr<Template> Parse(std::string_view source);

  // Renders with the given top-level variables. Errors: raise_exception(msg) yields
  // InvalidArgument carrying `msg` verbatim (IsRaisedError() is true); other runtime errors
  // (undefined attribute of undefined, type errors) name the template line.
  StatusOr<std::string> Render(const std::vector<std::pair<std::string, Value>>& context) const;
  // Same, with a JSON object's members as the variables (key order kept for tojson).
  StatusOr<std::string> Render(const nlohmann::ordered_json& context) const;

 private:
  explicit Template(std::shared_ptr<const ast::Template> ast) : ast_(std::move(ast)) {}
  std::shared_ptr<const ast::Template> ast_;
};

}  // namespace mies::jinja
