// Python/jinja2 runtime semantics the interpreter delegates to: attribute and item lookup,
// operators, iteration, the filters, tests and methods that chat templates use, and globals.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jinja/value.h"

namespace mies::jinja {

bool IsKnownFilter(std::string_view name);
bool IsKnownTest(std::string_view name);

StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args);
StatusOr<bool> ApplyTest(std::string_view name, const Value& input, const CallArgs& args);

// jinja's sandboxed getattr (obj.name) and getitem (obj[key]) with its Undefined results.
StatusOr<Value> GetAttr(const Value& obj, const std::string& name);
StatusOr<Value> GetItem(const Value& obj, const Value& key);
StatusOr<Value> GetSlice(const Value& obj, const Value& start, const Value& stop,
                         const Value& step);

// Python iter(): list items, dict keys, string characters; Undefined iterates as empty.
StatusOr<std::vector<Value>> Iterate(const Value& v);
// Python `item in container`.
StatusOr<bool> Contains(const Value& container, const Value& item);
StatusOr<Value> BinaryOp(std::string_view op, const Value& a, const Value& b);
StatusOr<Value> UnaryOp(std::string_view op, const Value& a);

// Globals every template sees: range, dict, namespace, raise_exception, strftime_now.
std::vector<std::pair<std::string, Value>> MakeGlobals();

// raise_exception(msg) produces this status; the template's message is kept verbatim.
Status RaisedError(std::string_view message);
bool IsRaisedError(const Status& status);

}  // namespace mies::jinja
