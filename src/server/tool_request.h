// The function-calling fields of a chat request (OpenAI): `tools`, `tool_choice` (none, auto,
// required, or {"type": "function", "function": {"name"}}) and `parallel_tool_calls`, and the
// constraint that tool_choice "required" or a named function asks of the output.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/constraint_spec.h"
#include "server/tool_call_parser.h"

namespace mies::server {

struct ToolRequest {
  enum class Choice { kNone, kAuto, kRequired, kNamed };
  nlohmann::ordered_json tools = nlohmann::ordered_json::array();  // as given, for the template
  std::vector<FunctionTool> functions;
  Choice choice = Choice::kNone;  // default: auto with tools, none without
  std::string named;              // kNamed: the function
  bool parallel = true;

  // Tools go to the template and calls are parsed.
  bool active() const { return choice != Choice::kNone && !functions.empty(); }
};

// Reads the fields of `body` (422 on a wrong shape, a bad function name, a named function that
// is not among the tools).
StatusOr<ToolRequest> ParseToolRequest(const nlohmann::ordered_json& body);

// What tool_choice forces: calls to the allowed functions (one of them, or the named one) in
// `format`'s syntax, their arguments per each function's parameters schema. nullopt for none
// and auto.
std::optional<ConstraintSpec> ToolChoiceConstraint(const ToolRequest& tools,
                                                   const ToolCallFormat& format);

}  // namespace mies::server
