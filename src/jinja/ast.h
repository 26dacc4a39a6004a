// Syntax tree of a parsed template. Expressions and statements are plain structs with a kind
// tag; the interpreter walks them. Nodes own their children.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace mies::jinja::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
using KwArgs = std::vector<std::pair<std::string, ExprPtr>>;

struct Expr {
  enum class Kind {
    kLiteral,    // literal
    kName,       // name
    kList,       // children = items
    kTuple,      // children = items
    kDict,       // children = key, value, key, value, ...
    kGetAttr,    // children[0].name
    kGetItem,    // children[0][children[1]]
    kSlice,      // children[0][children[1]:children[2]:children[3]] (null = omitted)
    kCall,       // children[0](children[1..], kwargs)
    kFilter,     // children[0] | name(children[1..], kwargs); children[0] null in filter blocks
    kTest,       // children[0] is [not] name(children[1..], kwargs)
    kUnary,      // name ("-", "+", "not") children[0]
    kBinary,     // children[0] name children[1]; name is + - * / // % ** ~ and or in "not in"
    kCompare,    // children[0] ops[0] children[1] ops[1] children[2] ...
    kCondition,  // children[0] if children[1] else children[2] (null = no else)
  };

  Kind kind;
  int line = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> children;
  KwArgs kwargs;
  std::vector<std::string> ops;
  bool negated = false;  // "is not"
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    kData,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches, else_body
    kFor,          // targets in expr [if cond] body [else else_body]
    kSet,          // targets (or ns_name.attr) = expr
    kSetBlock,     // {% set targets[0] | filter %} body {% endset %}; filter in expr (may be null)
    kMacro,        // name(params) body
    kCallBlock,    // {% call(params) expr %} body
    kFilterBlock,  // {% filter expr %} body
    kWith,         // {% with targets[i] = values[i] %} body
    kScope,        // {% generation %} body: rendered in place
    kBreak,
    kContinue,
  };

  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  bool unpack = false;  // targets came as a tuple: "for k, v in ..."
  std::string attr;     // set ns.attr: targets[0] is the namespace name
  std::string name;     // macro name
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro / caller parameters
  std::vector<ExprPtr> values;                          // with-statement values
  bool uses_varargs = false;  // macro body mentions varargs / kwargs / caller
  bool uses_kwargs = false;
  bool uses_caller = false;
};

struct Template {
  Body body;
};

}  // namespace mies::jinja::ast
