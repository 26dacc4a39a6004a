#include "jinja/template.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "jinja/builtins.h"
#include "jinja/parser.h"

namespace mies::jinja {
namespace {

using ast::Body;
using ast::Expr;
using ast::Node;

// A variable frame. jinja2 gives for-loop iterations, macros, call blocks and with-blocks
// their own frame; if-blocks do not. Lookups walk outwards.
struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* Find(std::string_view name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
      for (const auto& [k, v] : s->vars) {
        if (k == name) return &v;
      }
    }
    return nullptr;
  }
  void Set(const std::string& name, Value v) {
    for (auto& [k, old] : vars) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    vars.emplace_back(name, std::move(v));
  }
};
using ScopePtr = std::shared_ptr<Scope>;

ScopePtr Child(const ScopePtr& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

enum class Flow { kNormal, kBreak, kContinue };

// Prefixes a runtime error with the template line once, leaving raise_exception messages as
// the template author wrote them.
Status AtLine(Status s, int line) {
  if (s.ok() || IsRaisedError(s) || absl::StartsWith(s.message(), "template line ")) return s;
  Status out(s.code(), absl::StrCat("template line ", line, ": ", s.message()));
  return out;
}

// The error for a Repr()/Str() that stopped at kMaxPrintBytes (value.h), if one did.
Status PrintOverflowError() {
  if (!TakePrintOverflow()) return OkStatus();
  return InvalidArgument("a value printed as text would be longer than ", kMaxPrintBytes, " bytes");
}

constexpr int kMaxCallDepth = 200;
// Recursion is also bounded by the stack it uses: a level's frames depend on how deeply
// expressions nest inside it, and on the build. Real chat templates recurse a few levels; 1 MiB
// leaves room on any thread the server renders on. ASan frames are several times larger (about
// 17 KiB per level of a simple recursive macro; 200 levels of Hermes-2-Pro's tool template
// overflowed 8 MiB), so that build gets 4 MiB of its 8 MiB stacks.
#if defined(__SANITIZE_ADDRESS__)
constexpr uintptr_t kMaxStackBytes = uintptr_t{4} << 20;
#else
constexpr uintptr_t kMaxStackBytes = uintptr_t{1} << 20;
#endif
// Loop iterations plus macro calls in one render. range() caps one loop at 10^5 (jinja2's
// sandbox), but nested loops or a macro calling itself twice multiply; real chat templates
// take a few thousand steps (one loop over range()'s 10^5 still fits), so this bounds render
// time (~2 s under ASan) without touching them.
constexpr int64_t kMaxRenderSteps = int64_t{1} << 17;

class Interpreter {
 public:
  Interpreter() : stack_base_(reinterpret_cast<uintptr_t>(__builtin_frame_address(0))) {}

  StatusOr<Flow> Exec(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const auto& node : body) {
      auto flow = ExecNode(*node, scope, out);
      if (!flow.ok()) return AtLine(flow.status(), node->line);
      if (*flow != Flow::kNormal) return *flow;
    }
    return Flow::kNormal;
  }

  StatusOr<Value> Eval(const Expr& e, const ScopePtr& scope) {
    MIES_RETURN_IF_ERROR(AtLine(CheckStack(), e.line));
    auto v = EvalImpl(e, scope);
    if (!v.ok()) return AtLine(v.status(), e.line);
    MIES_RETURN_IF_ERROR(AtLine(PrintOverflowError(), e.line));
    if (v->depth() > kMaxValueDepth) {
      return AtLine(InvalidArgument("a value nests deeper than ", kMaxValueDepth, " levels"),
                    e.line);
    }
    return v;
  }

 private:
  StatusOr<Flow> ExecNode(const Node& n, const ScopePtr& scope, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kData:
        out += n.text;
        MIES_RETURN_IF_ERROR(CheckBuiltBytes("rendered output", out.size()));
        return Flow::kNormal;
      case Node::Kind::kOutput: {
        MIES_ASSIGN_OR_RETURN(Value v, Eval(*n.expr, scope));
        out += v.Str();
        MIES_RETURN_IF_ERROR(PrintOverflowError());
        // The rendered text is bounded like any string the template builds (a loop of
        // 10^5 iterations printing a 32 MiB value would otherwise need terabytes).
        MIES_RETURN_IF_ERROR(CheckBuiltBytes("rendered output", out.size()));
        return Flow::kNormal;
      }
      case Node::Kind::kIf:
        for (const auto& [cond, branch] : n.branches) {
          MIES_ASSIGN_OR_RETURN(Value c, Eval(*cond, scope));
          if (c.Truthy()) return Exec(branch, scope, out);
        }
        return Exec(n.else_body, scope, out);
      case Node::Kind::kFor:
        MIES_RETURN_IF_ERROR(ExecFor(n, scope, out));
        return Flow::kNormal;
      case Node::Kind::kSet: {
        MIES_ASSIGN_OR_RETURN(Value v, Eval(*n.expr, scope));
        if (!n.attr.empty()) {
          const Value* ns = scope->Find(n.targets[0]);
          if (!ns || !ns->is_namespace()) {
            return InvalidArgument("cannot assign attribute '", n.attr, "' on '", n.targets[0],
                                   "': it is not a namespace()");
          }
          if (v.holds_namespace()) {
            return InvalidArgument("cannot assign to '", n.targets[0], ".", n.attr,
                                   "': a namespace may not hold a namespace (or a list or dict "
                                   "holding one)");
          }
          ns->mutable_namespace().Set(Value::String(n.attr), std::move(v));
          ns->mutable_namespace().UpdateShape();
          return Flow::kNormal;
        }
        MIES_RETURN_IF_ERROR(Assign(n.targets, n.unpack, v, *scope));
        return Flow::kNormal;
      }
      case Node::Kind::kSetBlock: {
        std::string captured;
        MIES_RETURN_IF_ERROR(Exec(n.body, scope, captured).status());
        Value v = Value::String(std::move(captured));
        if (n.expr) {
          MIES_ASSIGN_OR_RETURN(v, EvalFilterChain(*n.expr, v, scope));
        }
        scope->Set(n.targets[0], std::move(v));
        return Flow::kNormal;
      }
      case Node::Kind::kMacro:
        scope->Set(n.name, MakeMacro(n, n.name, n.params, n.body, scope));
        return Flow::kNormal;
      case Node::Kind::kCallBlock: {
        Value caller = MakeMacro(n, "caller", n.params, n.body, scope);
        const Expr& call = *n.expr;
        MIES_ASSIGN_OR_RETURN(Value fn, Eval(*call.children[0], scope));
        MIES_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(call, 1, scope));
        args.keyword.emplace_back("caller", caller);
        MIES_ASSIGN_OR_RETURN(Value v, CallValue(fn, args));
        out += v.Str();
        MIES_RETURN_IF_ERROR(PrintOverflowError());
        MIES_RETURN_IF_ERROR(CheckBuiltBytes("rendered output", out.size()));
        return Flow::kNormal;
      }
      case Node::Kind::kFilterBlock: {
        std::string captured;
        MIES_RETURN_IF_ERROR(Exec(n.body, scope, captured).status());
        MIES_ASSIGN_OR_RETURN(Value v, EvalFilterChain(*n.expr, Value::String(captured), scope));
        out += v.Str();
        MIES_RETURN_IF_ERROR(PrintOverflowError());
        MIES_RETURN_IF_ERROR(CheckBuiltBytes("rendered output", out.size()));
        return Flow::kNormal;
      }
      case Node::Kind::kWith: {
        ScopePtr inner = Child(scope);
        for (size_t i = 0; i < n.targets.size(); ++i) {
          MIES_ASSIGN_OR_RETURN(Value v, Eval(*n.values[i], scope));
          inner->Set(n.targets[i], std::move(v));
        }
        MIES_RETURN_IF_ERROR(Exec(n.body, inner, out).status());
        return Flow::kNormal;
      }
      case Node::Kind::kScope:
        return Exec(n.body, scope, out);
      case Node::Kind::kBreak:
        return Flow::kBreak;
      case Node::Kind::kContinue:
        return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  static Status Assign(const std::vector<std::string>& targets, bool unpack, const Value& v,
                       Scope& scope) {
    if (!unpack) {
      scope.Set(targets[0], v);
      return OkStatus();
    }
    MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    if (items.size() != targets.size()) {
      if (items.size() > targets.size()) {
        return InvalidArgument("too many values to unpack (expected ", targets.size(), ")");
      }
      return InvalidArgument("not enough values to unpack (expected ", targets.size(), ", got ",
                             items.size(), ")");
    }
    for (size_t i = 0; i < targets.size(); ++i) scope.Set(targets[i], items[i]);
    return OkStatus();
  }

  Status ExecFor(const Node& n, const ScopePtr& scope, std::string& out) {
    MIES_ASSIGN_OR_RETURN(Value seq, Eval(*n.expr, scope));
    MIES_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(seq));
    if (n.cond) {  // "for x in xs if cond": filtered before loop.* is computed
      std::vector<Value> kept;
      for (const Value& item : items) {
        MIES_RETURN_IF_ERROR(Step());
        ScopePtr probe = Child(scope);
        MIES_RETURN_IF_ERROR(Assign(n.targets, n.unpack, item, *probe));
        MIES_ASSIGN_OR_RETURN(Value c, Eval(*n.cond, probe));
        if (c.Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      MIES_RETURN_IF_ERROR(Exec(n.else_body, scope, out).status());
      return OkStatus();
    }
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      MIES_RETURN_IF_ERROR(Step());
      ScopePtr iter = Child(scope);
      Dict loop;
      auto set = [&](const char* k, Value v) {
        loop.items.emplace_back(Value::String(k), std::move(v));
      };
      set("index", Value::Int(i + 1));
      set("index0", Value::Int(i));
      set("revindex", Value::Int(length - i));
      set("revindex0", Value::Int(length - i - 1));
      set("first", Value::Bool(i == 0));
      set("last", Value::Bool(i == length - 1));
      set("length", Value::Int(length));
      set("depth", Value::Int(1));
      set("depth0", Value::Int(0));
      set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                            : Value::Undefined("there is no previous item"));
      set("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                     : Value::Undefined("there is no next item"));
      set("cycle", Value::MakeFunction("loop.cycle", [i](const CallArgs& a) -> StatusOr<Value> {
            if (a.positional.empty()) return InvalidArgument("no items for cycling given");
            return a.positional[static_cast<size_t>(i) % a.positional.size()];
          }));
      iter->Set("loop", Value::MakeDict(std::move(loop)));
      MIES_RETURN_IF_ERROR(Assign(n.targets, n.unpack, items[static_cast<size_t>(i)], *iter));
      MIES_ASSIGN_OR_RETURN(Flow flow, Exec(n.body, iter, out));
      if (flow == Flow::kBreak) break;
    }
    return OkStatus();
  }

  // A macro (or a call block's `caller`) as a callable value. The defining scope is held
  // weakly: macros are stored in that scope, and a strong reference would be a cycle.
  Value MakeMacro(const Node& n, const std::string& name,
                  const std::vector<std::pair<std::string, ast::ExprPtr>>& params, const Body& body,
                  const ScopePtr& scope) {
    std::weak_ptr<Scope> weak = scope;
    const Node* node = &n;
    const auto* param_list = &params;
    const Body* macro_body = &body;
    const bool is_caller = name == "caller" && n.kind == Node::Kind::kCallBlock;
    return Value::MakeFunction(
        name,
        [this, weak, node, param_list, macro_body, name,
         is_caller](const CallArgs& a) -> StatusOr<Value> {
          ScopePtr defining = weak.lock();
          if (!defining) return InvalidArgument("macro '", name, "' called after its scope ended");
          MIES_RETURN_IF_ERROR(Step());
          if (++depth_ > kMaxCallDepth) {
            --depth_;
            return InvalidArgument("macro '", name, "': recursion deeper than ", kMaxCallDepth);
          }
          auto result = CallMacro(*node, name, *param_list, *macro_body, defining, a, is_caller);
          --depth_;
          return result;
        });
  }

  StatusOr<Value> CallMacro(const Node& n, const std::string& name,
                            const std::vector<std::pair<std::string, ast::ExprPtr>>& params,
                            const Body& body, const ScopePtr& defining, const CallArgs& a,
                            bool is_caller) {
    ScopePtr frame = Child(defining);
    std::vector<Value> varargs;
    Dict kwargs;
    for (size_t i = 0; i < a.positional.size(); ++i) {
      if (i < params.size()) {
        frame->Set(params[i].first, a.positional[i]);
      } else {
        varargs.push_back(a.positional[i]);
      }
    }
    // A caller() made by a call block accepts what it is given, like jinja's.
    const bool takes_varargs = n.uses_varargs || is_caller;
    if (!varargs.empty() && !takes_varargs) {
      return InvalidArgument("macro '", name, "' takes not more than ", params.size(),
                             " argument(s)");
    }
    for (const auto& [k, v] : a.keyword) {
      bool is_param = false;
      for (size_t i = 0; i < params.size(); ++i) {
        if (params[i].first == k) {
          if (i < a.positional.size()) {
            return InvalidArgument("macro '", name, "' got multiple values for argument '", k, "'");
          }
          is_param = true;
        }
      }
      if (is_param) {
        frame->Set(k, v);
      } else if (k == "caller" && n.uses_caller) {
        frame->Set("caller", v);
      } else if (n.uses_kwargs || is_caller) {
        kwargs.Set(Value::String(k), v);
      } else {
        return InvalidArgument("macro '", name, "' takes no keyword argument '", k, "'");
      }
    }
    for (size_t i = a.positional.size(); i < params.size(); ++i) {
      bool given = false;
      for (const auto& kv : a.keyword) given |= kv.first == params[i].first;
      if (given) continue;
      if (params[i].second) {
        MIES_ASSIGN_OR_RETURN(Value def, Eval(*params[i].second, frame));
        frame->Set(params[i].first, std::move(def));
      } else {
        frame->Set(params[i].first,
                   Value::Undefined("parameter '" + params[i].first + "' was not provided"));
      }
    }
    frame->Set("varargs", Value::MakeList(std::move(varargs), true));
    frame->Set("kwargs", Value::MakeDict(std::move(kwargs)));
    std::string out;
    MIES_RETURN_IF_ERROR(Exec(body, frame, out).status());
    return Value::String(std::move(out));
  }

  StatusOr<CallArgs> EvalArgs(const Expr& e, size_t first, const ScopePtr& scope) {
    CallArgs args;
    for (size_t i = first; i < e.children.size(); ++i) {
      MIES_ASSIGN_OR_RETURN(Value v, Eval(*e.children[i], scope));
      args.positional.push_back(std::move(v));
    }
    for (const auto& [k, ex] : e.kwargs) {
      MIES_ASSIGN_OR_RETURN(Value v, Eval(*ex, scope));
      args.keyword.emplace_back(k, std::move(v));
    }
    return args;
  }

  static StatusOr<Value> CallValue(const Value& fn, const CallArgs& args) {
    if (fn.is_function()) return fn.as_function().call(args);
    if (fn.is_undefined()) return InvalidArgument(fn.undefined_message());
    return InvalidArgument("'", fn.TypeName(), "' object is not callable");
  }

  // Applies a filter chain whose innermost input is `leaf` (filter blocks, block sets).
  StatusOr<Value> EvalFilterChain(const Expr& e, const Value& leaf, const ScopePtr& scope) {
    Value input = leaf;
    if (e.children[0]) {
      MIES_ASSIGN_OR_RETURN(input, EvalFilterChain(*e.children[0], leaf, scope));
    }
    MIES_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
    return ApplyFilter(e.name, input, args);
  }

  StatusOr<Value> EvalImpl(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kName: {
        const Value* v = scope->Find(e.name);
        if (!v) return Value::Undefined("'" + e.name + "' is undefined");
        return *v;
      }
      case Expr::Kind::kList:
      case Expr::Kind::kTuple: {
        std::vector<Value> items;
        for (const auto& c : e.children) {
          MIES_ASSIGN_OR_RETURN(Value v, Eval(*c, scope));
          items.push_back(std::move(v));
        }
        return Value::MakeList(std::move(items), e.kind == Expr::Kind::kTuple);
      }
      case Expr::Kind::kDict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          MIES_ASSIGN_OR_RETURN(Value k, Eval(*e.children[i], scope));
          MIES_ASSIGN_OR_RETURN(Value v, Eval(*e.children[i + 1], scope));
          if (k.is_list() && !k.as_list().is_tuple)
            return InvalidArgument("unhashable type: 'list'");
          if (k.is_dict()) return InvalidArgument("unhashable type: 'dict'");
          d.Set(std::move(k), std::move(v));
        }
        return Value::MakeDict(std::move(d));
      }
      case Expr::Kind::kGetAttr: {
        MIES_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
        return GetAttr(obj, e.name);
      }
      case Expr::Kind::kGetItem: {
        MIES_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
        MIES_ASSIGN_OR_RETURN(Value key, Eval(*e.children[1], scope));
        return GetItem(obj, key);
      }
      case Expr::Kind::kSlice: {
        MIES_ASSIGN_OR_RETURN(Value obj, Eval(*e.children[0], scope));
        Value parts[3];
        for (int i = 0; i < 3; ++i) {
          if (e.children[i + 1]) {
            MIES_ASSIGN_OR_RETURN(parts[i], Eval(*e.children[i + 1], scope));
          } else {
            parts[i] = Value::None();
          }
        }
        return GetSlice(obj, parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::kCall: {
        MIES_ASSIGN_OR_RETURN(Value fn, Eval(*e.children[0], scope));
        MIES_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
        return CallValue(fn, args);
      }
      case Expr::Kind::kFilter: {
        MIES_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
        MIES_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
        return ApplyFilter(e.name, input, args);
      }
      case Expr::Kind::kTest: {
        MIES_ASSIGN_OR_RETURN(Value input, Eval(*e.children[0], scope));
        MIES_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, 1, scope));
        MIES_ASSIGN_OR_RETURN(bool r, ApplyTest(e.name, input, args));
        return Value::Bool(r != e.negated);
      }
      case Expr::Kind::kUnary: {
        MIES_ASSIGN_OR_RETURN(Value v, Eval(*e.children[0], scope));
        return UnaryOp(e.name, v);
      }
      case Expr::Kind::kBinary: {
        MIES_ASSIGN_OR_RETURN(Value a, Eval(*e.children[0], scope));
        // `and` / `or` short-circuit and yield an operand, as in Python.
        if (e.name == "and") {
          if (!a.Truthy()) return a;
          return Eval(*e.children[1], scope);
        }
        if (e.name == "or") {
          if (a.Truthy()) return a;
          return Eval(*e.children[1], scope);
        }
        MIES_ASSIGN_OR_RETURN(Value b, Eval(*e.children[1], scope));
        return BinaryOp(e.name, a, b);
      }
      case Expr::Kind::kCompare: {
        MIES_ASSIGN_OR_RETURN(Value left, Eval(*e.children[0], scope));
        for (size_t i = 0; i < e.ops.size(); ++i) {
          MIES_ASSIGN_OR_RETURN(Value right, Eval(*e.children[i + 1], scope));
          const std::string& op = e.ops[i];
          bool r = false;
          if (op == "==") {
            r = Equals(left, right);
          } else if (op == "!=") {
            r = !Equals(left, right);
          } else if (op == "in" || op == "not in") {
            MIES_ASSIGN_OR_RETURN(r, Contains(right, left));
            if (op == "not in") r = !r;
          } else {
            if (left.is_undefined()) return InvalidArgument(left.undefined_message());
            if (right.is_undefined()) return InvalidArgument(right.undefined_message());
            MIES_ASSIGN_OR_RETURN(int c, Compare(left, right, op));
            r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
          }
          if (!r) return Value::Bool(false);
          left = std::move(right);
        }
        return Value::Bool(true);
      }
      case Expr::Kind::kCondition: {
        MIES_ASSIGN_OR_RETURN(Value c, Eval(*e.children[1], scope));
        if (c.Truthy()) return Eval(*e.children[0], scope);
        if (e.children[2]) return Eval(*e.children[2], scope);
        return Value::Undefined("the inline if-expression on line " + std::to_string(e.line) +
                                " evaluated to false and no else section was defined.");
      }
    }
    return Internal("unknown expression kind");
  }

  Status CheckStack() const {
    const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    if (stack_base_ - here <= kMaxStackBytes) return OkStatus();
    return InvalidArgument("recursion too deep: the template's macro calls and nested expressions ",
                           "use more than ", kMaxStackBytes >> 20, " MiB of stack");
  }

  Status Step() {
    if (++steps_ <= kMaxRenderSteps) return OkStatus();
    return InvalidArgument("the template ran more than ", kMaxRenderSteps,
                           " loop iterations and macro calls; it looks like it never ends");
  }

  const uintptr_t stack_base_;  // frame address where the render started (stacks grow down)
  int depth_ = 0;
  int64_t steps_ = 0;
};

}  // namespace

StatusOr<Template> Template::Parse(std::string_view source) {
  MIES_ASSIGN_OR_RETURN(ast::Template t, ParseTemplate(source));
  return Template(std::make_shared<const ast::Template>(std::move(t)));
}

StatusOr<std::string> Template::Render(
    const std::vector<std::pair<std::string, Value>>& context) const {
  auto globals = std::make_shared<Scope>();
  globals->vars = MakeGlobals();
  ScopePtr vars = Child(globals);
  for (const auto& [k, v] : context) vars->Set(k, v);
  ScopePtr top = Child(vars);
  Interpreter interp;
  (void)TakePrintOverflow();  // nothing left over from printing outside a render
  std::string out;
  MIES_ASSIGN_OR_RETURN(Flow flow, interp.Exec(ast_->body, top, out));
  (void)flow;  // break/continue are rejected outside loops at parse time
  return out;
}

StatusOr<std::string> Template::Render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) {
    return InvalidArgument("template context must be a JSON object, got ", context.type_name());
  }
  MIES_RETURN_IF_ERROR(CheckJsonDepth(context, kMaxJsonDepth, "template context"));
  std::vector<std::pair<std::string, Value>> vars;
  for (auto it = context.begin(); it != context.end(); ++it) {
    vars.emplace_back(it.key(), Value::FromJson(it.value()));
  }
  return Render(vars);
}

}  // namespace mies::jinja
