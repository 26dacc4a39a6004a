#include "server/tool_request.h"

namespace mies::server {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// MindIE's rule for function names: ^[A-Za-z0-9_\u4e00-\u9fa5-]{1,64}$.
bool ValidFunctionName(const std::string& name) {
  size_t chars = 0;
  for (size_t i = 0; i < name.size(); ++chars) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x80) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-')) {
        return false;
      }
      ++i;
      continue;
    }
    // CJK unified ideographs U+4E00..U+9FA5 are three bytes: 1110xxxx 10xxxxxx 10xxxxxx.
    if ((c & 0xF0) != 0xE0 || i + 2 >= name.size()) return false;
    const auto c1 = static_cast<unsigned char>(name[i + 1]);
    const auto c2 = static_cast<unsigned char>(name[i + 2]);
    if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80) return false;
    const unsigned cp = ((c & 0x0Fu) << 12) | ((c1 & 0x3Fu) << 6) | (c2 & 0x3Fu);
    if (cp < 0x4E00 || cp > 0x9FA5) return false;
    i += 3;
  }
  return chars >= 1 && chars <= 64;
}

}  // namespace

StatusOr<ToolRequest> ParseToolRequest(const ordered_json& body) {
  ToolRequest req;
  if (auto it = body.find("tools"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return InvalidArgument("tools must be array type.");
    for (size_t i = 0; i < it->size(); ++i) {
      const ordered_json& tool = (*it)[i];
      const std::string where = "tools[" + std::to_string(i) + "]";
      if (!tool.is_object() || !tool.contains("type") || tool["type"] != "function" ||
          !tool.contains("function") || !tool["function"].is_object() ||
          !tool["function"].contains("name") || !tool["function"]["name"].is_string()) {
        return InvalidArgument(where,
                               " must be {\"type\":\"function\",\"function\":{\"name\":...}}");
      }
      const ordered_json& fn = tool["function"];
      FunctionTool f;
      f.name = fn["name"].get<std::string>();
      if (!ValidFunctionName(f.name)) {
        return InvalidArgument(where,
                               ".function.name must match ^[A-Za-z0-9_\\u4e00-\\u9fa5-]{1,64}$, "
                               "got ",
                               f.name);
      }
      if (auto p = fn.find("parameters"); p != fn.end() && !p->is_null()) {
        if (!p->is_object())
          return InvalidArgument(where, ".function.parameters must be object type.");
        f.parameters = *p;
      } else {
        f.parameters = ordered_json::object();
      }
      for (const FunctionTool& other : req.functions) {
        if (other.name == f.name) {
          return InvalidArgument(where, ".function.name ", f.name,
                                 " is given twice; function names must be unique");
        }
      }
      req.functions.push_back(std::move(f));
    }
    req.tools = *it;
  }
  req.choice = req.functions.empty() ? ToolRequest::Choice::kNone : ToolRequest::Choice::kAuto;
  if (auto it = body.find("tool_choice"); it != body.end() && !it->is_null()) {
    if (it->is_string()) {
      const std::string c = it->get<std::string>();
      if (c == "none") {
        req.choice = ToolRequest::Choice::kNone;
      } else if (c == "auto") {
        req.choice = ToolRequest::Choice::kAuto;
      } else if (c == "required") {
        req.choice = ToolRequest::Choice::kRequired;
      } else {
        return InvalidArgument(
            "tool_choice must be none, auto, required or a function object, got \"", c, "\"");
      }
    } else if (it->is_object()) {
      const ordered_json& fn = it->value("function", ordered_json());
      if (it->value("type", "") != "function" || !fn.is_object() || !fn.contains("name") ||
          !fn["name"].is_string()) {
        return InvalidArgument(
            "tool_choice must be none, auto, required or {\"type\":\"function\",\"function\":"
            "{\"name\":...}}");
      }
      req.choice = ToolRequest::Choice::kNamed;
      req.named = fn["name"].get<std::string>();
    } else {
      return InvalidArgument("tool_choice must be string or object type.");
    }
    if (req.choice != ToolRequest::Choice::kNone && req.choice != ToolRequest::Choice::kAuto &&
        req.functions.empty()) {
      return InvalidArgument("tool_choice ", it->is_string() ? "required" : "a named function",
                             " needs tools");
    }
    if (req.choice == ToolRequest::Choice::kNamed) {
      bool found = false;
      for (const auto& f : req.functions) found = found || f.name == req.named;
      if (!found)
        return InvalidArgument("tool_choice names ", req.named, ", which is not in tools");
    }
  }
  if (auto it = body.find("parallel_tool_calls"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return InvalidArgument("parallel_tool_calls must be boolean type.");
    req.parallel = it->get<bool>();
  }
  return req;
}

std::optional<ConstraintSpec> ToolChoiceConstraint(const ToolRequest& tools,
                                                   const ToolCallFormat& format) {
  if (tools.choice == ToolRequest::Choice::kRequired) {
    return StructuralTagSpec(format.CallsFormat(tools.functions, tools.parallel), "tool_choice");
  }
  if (tools.choice == ToolRequest::Choice::kNamed) {
    for (const FunctionTool& f : tools.functions) {
      if (f.name == tools.named) {
        // One call: OpenAI's named tool_choice asks for exactly that call.
        return StructuralTagSpec(format.CallsFormat({&f, 1}, /*parallel=*/false), "tool_choice");
      }
    }
  }
  return std::nullopt;
}

}  // namespace mies::server
