// Parses template source into an ast::Template. Anything outside the supported subset
// (template inheritance, includes, imports, unknown tags, filters or tests) is rejected here,
// at load time, with the construct and line named.
#pragma once

#include <string_view>

#include "common/status.h"
#include "jinja/ast.h"

namespace mies::jinja {

StatusOr<ast::Template> ParseTemplate(std::string_view source);

}  // namespace mies::jinja
