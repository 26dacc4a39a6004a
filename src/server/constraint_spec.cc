#include "server/constraint_spec.h"

#include <vector>

#include "absl/strings/str_join.h"
#include "server/http_message.h"
#include "server/request_parsing.h"

namespace mies::server {

using nlohmann::json;
using nlohmann::ordered_json;
using Kind = ConstraintSpec::Kind;

namespace {

ConstraintSpec Spec(Kind kind, std::string source, std::string field) {
  return ConstraintSpec{kind, std::move(source), std::move(field)};
}

// A JSON schema given as an object, or as its JSON text (vLLM accepts both).
StatusOr<ConstraintSpec> SchemaSpec(const json& value, const std::string& field) {
  if (value.is_object() || value.is_boolean()) return Spec(Kind::kJsonSchema, value.dump(), field);
  if (value.is_string()) {
    json parsed = json::parse(value.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() || parsed.is_boolean()) {
      return Spec(Kind::kJsonSchema, parsed.dump(), field);
    }
    return InvalidArgument(field, " must be a JSON schema: an object or its JSON text");
  }
  return InvalidArgument(field, " must be a JSON schema: an object or its JSON text");
}

StatusOr<ConstraintSpec> StringSpec(Kind kind, const json& value, const std::string& field) {
  if (!value.is_string()) return InvalidArgument(field, " must be string type.");
  if (value.get_ref<const std::string&>().empty()) {
    return InvalidArgument(field, " must not be empty");
  }
  return Spec(kind, value.get<std::string>(), field);
}

StatusOr<ConstraintSpec> ChoiceSpec(const json& value, const std::string& field) {
  if (!value.is_array() || value.empty()) {
    return InvalidArgument(field, " must be a non-empty list of strings");
  }
  for (const json& c : value) {
    if (!c.is_string()) return InvalidArgument(field, " must be a non-empty list of strings");
  }
  return Spec(Kind::kChoice, value.dump(), field);
}

// vLLM's structural_tag: a JSON object or its text, with "format" (xgrammar) or "structures".
StatusOr<ConstraintSpec> StructuralTag(const json& value, const std::string& field) {
  json tag = value.is_string()
                 ? json::parse(value.get<std::string>(), nullptr, /*allow_exceptions=*/false)
                 : value;
  if (!tag.is_object() || !(tag.contains("format") || tag.contains("structures"))) {
    return InvalidArgument(field,
                           " must be a structural tag: an object with \"format\" (or "
                           "\"structures\" and \"triggers\"), or its JSON text");
  }
  tag["type"] = "structural_tag";
  return Spec(Kind::kStructuralTag, tag.dump(), field);
}

}  // namespace

const char* ConstraintKindName(Kind kind) {
  switch (kind) {
    case Kind::kJsonSchema:
      return "json_schema";
    case Kind::kJsonObject:
      return "json_object";
    case Kind::kRegex:
      return "regex";
    case Kind::kChoice:
      return "choice";
    case Kind::kGrammar:
      return "grammar";
    case Kind::kStructuralTag:
      return "structural_tag";
  }
  return "?";
}

Status AttachConstraint(ConstraintCompiler* compiler, const std::optional<ConstraintSpec>& spec,
                        engine::GenerateRequest* request) {
  if (!spec) return OkStatus();
  if (compiler == nullptr) {
    return BadRequest(spec->field +
                      ": structured output needs the grammar engine, which this build of mies "
                      "does not include");
  }
  Status st = compiler->Attach(*spec, request);
  if (st.ok()) return st;
  return BadRequest(spec->field + ": " + std::string(st.message()));
}

StatusOr<std::optional<ConstraintSpec>> ParseResponseFormat(const json& value) {
  const std::string field = "response_format";
  if (!value.is_object()) return FieldTypeError("response_format", "object");
  MIES_ASSIGN_OR_RETURN(auto type, GetString(value, "type"));
  if (!type) return InvalidArgument("response_format.type must be string type.");
  if (*type == "text") return std::optional<ConstraintSpec>();
  if (*type == "json_object") return std::optional(Spec(Kind::kJsonObject, "", field));
  if (*type == "structural_tag") {
    MIES_ASSIGN_OR_RETURN(auto spec, StructuralTag(value, field));
    return std::optional(std::move(spec));
  }
  if (*type != "json_schema") {
    return InvalidArgument(
        "response_format.type must be one of text, json_object, json_schema, structural_tag; "
        "got ",
        *type);
  }
  auto js = value.find("json_schema");
  if (js == value.end() || !js->is_object()) {
    return InvalidArgument("response_format.json_schema must be object type.");
  }
  MIES_ASSIGN_OR_RETURN(auto name, GetString(*js, "name"));
  if (!name || name->empty() || name->size() > 64) {
    return InvalidArgument("response_format.json_schema.name must be a string of 1 to 64 chars");
  }
  MIES_RETURN_IF_ERROR(GetBool(*js, "strict").status());
  auto schema = js->find("schema");
  if (schema == js->end() || schema->is_null()) {
    return std::optional(Spec(Kind::kJsonObject, "", field));
  }
  if (!schema->is_object() && !schema->is_boolean()) {
    return InvalidArgument("response_format.json_schema.schema must be object type.");
  }
  return std::optional(Spec(Kind::kJsonSchema, schema->dump(), field));
}

StatusOr<ConstraintSpec> ParseGuidedField(const char* field, const json& value) {
  const std::string f = field;
  if (f == "guided_json") return SchemaSpec(value, f);
  if (f == "guided_regex") return StringSpec(Kind::kRegex, value, f);
  if (f == "guided_choice") return ChoiceSpec(value, f);
  if (f == "guided_grammar") return StringSpec(Kind::kGrammar, value, f);
  return InvalidArgument("unknown structured output field ", f);
}

StatusOr<ConstraintSpec> ParseStructuredOutputs(const json& value) {
  if (!value.is_object()) return FieldTypeError("structured_outputs", "object");
  std::vector<std::string> given;
  for (const char* key : {"json", "regex", "choice", "grammar", "json_object", "structural_tag"}) {
    auto it = value.find(key);
    if (it == value.end() || it->is_null() || (it->is_boolean() && !it->get<bool>())) continue;
    given.emplace_back(key);
  }
  if (given.empty()) {
    return InvalidArgument(
        "structured_outputs must set one of json, regex, choice, grammar, json_object, "
        "structural_tag");
  }
  if (given.size() > 1) {
    return InvalidArgument("structured_outputs sets ", absl::StrJoin(given, ", "),
                           "; only one kind of constraint can be used");
  }
  const std::string& key = given[0];
  const json& v = value[key];
  const std::string field = "structured_outputs." + key;
  if (key == "json") return SchemaSpec(v, field);
  if (key == "regex") return StringSpec(Kind::kRegex, v, field);
  if (key == "choice") return ChoiceSpec(v, field);
  if (key == "grammar") return StringSpec(Kind::kGrammar, v, field);
  if (key == "json_object") {
    if (!v.is_boolean()) return InvalidArgument(field, " must be boolean type.");
    return Spec(Kind::kJsonObject, "", field);
  }
  return StructuralTag(v, field);
}

StatusOr<ConstraintSpec> ParseTgiGrammar(const json& value) {
  const std::string field = "grammar";
  if (!value.is_object()) return FieldTypeError("grammar", "object");
  MIES_ASSIGN_OR_RETURN(auto type, GetString(value, "type"));
  auto v = value.find("value");
  if (!type || v == value.end() || v->is_null()) {
    return InvalidArgument("grammar must be {\"type\": \"json\" | \"regex\" | \"json_schema\", ",
                           "\"value\": ...}");
  }
  if (*type == "json" || *type == "json_object") return SchemaSpec(*v, field);
  if (*type == "regex") return StringSpec(Kind::kRegex, *v, field);
  if (*type == "json_schema") {
    if (!v->is_object() || !v->contains("schema")) {
      return InvalidArgument("grammar.value must be {\"name\": ..., \"schema\": {...}}");
    }
    return SchemaSpec((*v)["schema"], field);
  }
  return InvalidArgument("grammar.type must be one of json, regex, json_schema; got ", *type);
}

void KeepSchemaKeyOrder(std::string_view body_text, std::optional<ConstraintSpec>* spec) {
  if (!spec->has_value() || (*spec)->kind != Kind::kJsonSchema) return;
  const ordered_json body = ordered_json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  auto at = [](const ordered_json* o, const char* key) -> const ordered_json* {
    if (o == nullptr || !o->is_object()) return nullptr;
    auto it = o->find(key);
    return it == o->end() ? nullptr : &*it;
  };
  const std::string& f = (*spec)->field;
  const ordered_json* v = nullptr;
  if (f == "response_format") {
    v = at(at(at(&body, "response_format"), "json_schema"), "schema");
  } else if (f == "guided_json") {
    v = at(&body, "guided_json");
  } else if (f == "structured_outputs.json") {
    v = at(at(&body, "structured_outputs"), "json");
  } else if (f == "grammar") {  // TGI: parameters.grammar.value (.schema for json_schema)
    const ordered_json* g = at(at(&body, "parameters"), "grammar");
    v = at(g, "value");
    const ordered_json* type = at(g, "type");
    if (type != nullptr && *type == "json_schema") v = at(v, "schema");
  }
  if (v == nullptr) return;
  ordered_json schema =
      v->is_string() ? ordered_json::parse(v->get<std::string>(), nullptr, false) : *v;
  if (!schema.is_object() && !schema.is_boolean()) return;
  std::string text = schema.dump();
  if (json::parse(text) != json::parse((*spec)->source)) return;
  (*spec)->source = std::move(text);
}

ordered_json ConstraintFormat(const ConstraintSpec& spec) {
  switch (spec.kind) {
    case Kind::kJsonSchema:
      return {{"type", "json_schema"}, {"json_schema", ordered_json::parse(spec.source)}};
    case Kind::kJsonObject:
      return {{"type", "json_schema"}, {"json_schema", {{"type", "object"}}}};
    case Kind::kRegex:
      return {{"type", "regex"}, {"pattern", spec.source}};
    case Kind::kGrammar:
      return {{"type", "grammar"}, {"grammar", spec.source}};
    case Kind::kChoice: {
      ordered_json elements = ordered_json::array();
      for (const ordered_json& c : ordered_json::parse(spec.source)) {
        elements.push_back({{"type", "const_string"}, {"value", c}});
      }
      return {{"type", "or"}, {"elements", std::move(elements)}};
    }
    case Kind::kStructuralTag: {
      ordered_json tag = ordered_json::parse(spec.source);
      if (tag.contains("format")) return tag["format"];
      // vLLM's older form: free text, and at each trigger one of the structures.
      ordered_json tags = ordered_json::array();
      for (const ordered_json& s : tag.value("structures", ordered_json::array())) {
        tags.push_back({{"begin", s.value("begin", "")},
                        {"content",
                         {{"type", "json_schema"},
                          {"json_schema", s.value("schema", ordered_json::object())}}},
                        {"end", s.value("end", "")}});
      }
      return {{"type", "triggered_tags"},
              {"triggers", tag.value("triggers", ordered_json::array())},
              {"tags", std::move(tags)}};
    }
  }
  return ordered_json::object();
}

ConstraintSpec StructuralTagSpec(ordered_json format, std::string field) {
  ordered_json tag = {{"type", "structural_tag"}, {"format", std::move(format)}};
  return Spec(Kind::kStructuralTag, tag.dump(), std::move(field));
}

ConstraintSpec AfterReasoning(const ConstraintSpec& spec, ReasoningStart start) {
  if (start == ReasoningStart::kClosed) return spec;
  ordered_json think = {{"type", "tag"},
                        {"begin", start == ReasoningStart::kOpen ? "" : "<think>"},
                        {"content", {{"type", "any_text"}}},
                        {"end", "</think>"}};
  ordered_json after = {{"type", "sequence"},
                        {"elements",
                         {std::move(think),
                          {{"type", "regex"}, {"pattern", "[ \\t\\r\\n]{0,4}"}},
                          ConstraintFormat(spec)}}};
  if (start == ReasoningStart::kOpen) return StructuralTagSpec(std::move(after), spec.field);
  // The model may or may not think first.
  ordered_json either = {{"type", "or"}, {"elements", {std::move(after), ConstraintFormat(spec)}}};
  return StructuralTagSpec(std::move(either), spec.field);
}

}  // namespace mies::server
