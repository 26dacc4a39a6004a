// Python/jinja2 runtime semantics the interpreter delegates to: attribute and item lookup,
// operators, iteration, the filters, tests and methods that chat templates use, and globals.
#pragma once

#include <cstdint>
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

// Strings and lists a template builds are capped (32 MiB of text, 512 Ki items; a prompt is at
// most a few million tokens) so that a template or the values a client passes cannot exhaust
// memory: `'x' * 10**12`, `|indent(10**12)` or a doubling loop fail with these errors where
// Python would raise MemoryError after swapping.
inline constexpr uint64_t kMaxBuiltBytes = uint64_t{32} << 20;
inline constexpr uint64_t kMaxBuiltItems = uint64_t{1} << 19;
// InvalidArgument naming `what` when a string of `bytes` would exceed kMaxBuiltBytes.
Status CheckBuiltBytes(std::string_view what, uint64_t bytes);
// The same for a list of `items` and kMaxBuiltItems.
Status CheckBuiltItems(std::string_view what, uint64_t items);

// raise_exception(msg) produces this status; the template's message is kept verbatim.
Status RaisedError(std::string_view message);
bool IsRaisedError(const Status& status);

}  // namespace mies::jinja
