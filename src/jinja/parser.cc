#include "jinja/parser.h"

#include <set>
#include <utility>

#include "jinja/builtins.h"
#include "jinja/lexer.h"

namespace mies::jinja {
namespace {

using ast::Body;
using ast::Expr;
using ast::ExprPtr;
using ast::Node;
using ast::NodePtr;

ExprPtr MakeExpr(Expr::Kind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

NodePtr MakeNode(Node::Kind kind, int line) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->line = line;
  return n;
}

// Tags jinja2 knows but chat templates have no use for; named in the error so the user knows
// the template needs a feature this interpreter leaves out.
const std::set<std::string_view> kUnsupportedTags = {
    "extends", "block",     "include", "import", "from",     "autoescape", "do",
    "trans",   "pluralize", "print",   "debug",  "endblock", "endtrans"};

// Deeper nesting than this (parentheses, unary operators, blocks) is rejected: the parser and
// the interpreter recurse once per level, and a hostile template must not exhaust the stack.
constexpr int kMaxNesting = 200;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  StatusOr<ast::Template> Run() {
    ast::Template t;
    std::string end;
    MIES_RETURN_IF_ERROR(ParseBody({}, &t.body, &end));
    return t;
  }

 private:
  const Token& Cur() const { return toks_[pos_]; }
  const Token& Peek(size_t k = 1) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  bool AtOp(std::string_view op) const {
    return Cur().kind == TokenKind::kOperator && Cur().text == op;
  }
  bool AtName(std::string_view name) const {
    return Cur().kind == TokenKind::kName && Cur().text == name;
  }
  void Advance() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kData:
        return "template data";
      case TokenKind::kVariableBegin:
        return "'{{'";
      case TokenKind::kVariableEnd:
        return "'}}'";
      case TokenKind::kBlockBegin:
        return "'{%'";
      case TokenKind::kBlockEnd:
        return "'%}'";
      case TokenKind::kEof:
        return "end of template";
      case TokenKind::kString:
        return "string literal";
      default:
        return "'" + t.text + "'";
    }
  }
  Status Error(const Token& t, std::string_view msg) const {
    return InvalidArgument("template line ", t.line, ": ", std::string(msg));
  }
  Status Unexpected(std::string_view expected) const {
    return Error(Cur(),
                 std::string("expected ") + std::string(expected) + ", got " + Describe(Cur()));
  }
  Status ExpectOp(std::string_view op) {
    if (!AtOp(op)) return Unexpected("'" + std::string(op) + "'");
    Advance();
    return OkStatus();
  }
  Status ExpectKind(TokenKind kind, std::string_view what) {
    if (Cur().kind != kind) return Unexpected(what);
    Advance();
    return OkStatus();
  }
  Status ExpectBlockEnd() { return ExpectKind(TokenKind::kBlockEnd, "end of statement '%}'"); }
  StatusOr<std::string> ExpectName() {
    if (Cur().kind != TokenKind::kName) return Unexpected("a name");
    std::string n = Cur().text;
    Advance();
    return n;
  }

  // Parses nodes until a block tag whose name is in `ends` (left unconsumed after "{%"; its name
  // returned in `end`), or the end of input when `ends` is empty.
  Status ParseBody(const std::set<std::string>& ends, Body* body, std::string* end) {
    while (true) {
      const Token& t = Cur();
      switch (t.kind) {
        case TokenKind::kEof:
          if (!ends.empty()) {
            std::string names;
            for (const auto& e : ends) names += (names.empty() ? "'" : " or '") + e + "'";
            return Error(t, "unexpected end of template, expected " + names);
          }
          *end = "";
          return OkStatus();
        case TokenKind::kData: {
          auto n = MakeNode(Node::Kind::kData, t.line);
          n->text = t.text;
          body->push_back(std::move(n));
          Advance();
          break;
        }
        case TokenKind::kVariableBegin: {
          auto n = MakeNode(Node::Kind::kOutput, t.line);
          Advance();
          MIES_ASSIGN_OR_RETURN(n->expr, ParseTuple(true, {}));
          MIES_RETURN_IF_ERROR(ExpectKind(TokenKind::kVariableEnd, "end of print statement '}}'"));
          body->push_back(std::move(n));
          break;
        }
        case TokenKind::kBlockBegin: {
          Advance();
          if (Cur().kind != TokenKind::kName) return Unexpected("a statement name");
          const std::string name = Cur().text;
          if (ends.count(name)) {
            *end = name;
            return OkStatus();
          }
          MIES_RETURN_IF_ERROR(ParseStatement(body));
          break;
        }
        default:
          return Error(t, "unexpected " + Describe(t));
      }
    }
  }

  struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
    int& depth;
  };
  Status CheckDepth() const {
    if (depth_ > kMaxNesting) {
      return Error(Cur(), "nesting deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    return OkStatus();
  }

  Status ParseStatement(Body* body) {
    DepthGuard guard(depth_);
    MIES_RETURN_IF_ERROR(CheckDepth());
    const Token& t = Cur();
    const std::string name = t.text;
    const int line = t.line;
    if (name == "if") return ParseIf(body);
    if (name == "for") return ParseFor(body);
    if (name == "set") return ParseSet(body);
    if (name == "macro") return ParseMacro(body);
    if (name == "call") return ParseCallBlock(body);
    if (name == "filter") return ParseFilterBlock(body);
    if (name == "with") return ParseWith(body);
    if (name == "generation") {
      // transformers' AssistantTracker tag: marks assistant text, renders its body unchanged.
      Advance();
      MIES_RETURN_IF_ERROR(ExpectBlockEnd());
      auto n = MakeNode(Node::Kind::kScope, line);
      std::string end;
      MIES_RETURN_IF_ERROR(ParseBody({"endgeneration"}, &n->body, &end));
      Advance();
      MIES_RETURN_IF_ERROR(ExpectBlockEnd());
      body->push_back(std::move(n));
      return OkStatus();
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return Error(t, "'" + name + "' outside of a for loop");
      Advance();
      MIES_RETURN_IF_ERROR(ExpectBlockEnd());
      body->push_back(MakeNode(name == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, line));
      return OkStatus();
    }
    if (kUnsupportedTags.count(name)) {
      return Error(t, "unsupported Jinja construct '{% " + name + " %}'");
    }
    return Error(t, "unknown or misplaced tag '" + name + "'");
  }

  Status ParseIf(Body* body) {
    auto n = MakeNode(Node::Kind::kIf, Cur().line);
    Advance();  // if / elif
    while (true) {
      MIES_ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(true, {}));
      MIES_RETURN_IF_ERROR(ExpectBlockEnd());
      Body branch;
      std::string end;
      MIES_RETURN_IF_ERROR(ParseBody({"elif", "else", "endif"}, &branch, &end));
      n->branches.emplace_back(std::move(cond), std::move(branch));
      Advance();
      if (end == "elif") continue;
      if (end == "else") {
        MIES_RETURN_IF_ERROR(ExpectBlockEnd());
        MIES_RETURN_IF_ERROR(ParseBody({"endif"}, &n->else_body, &end));
        Advance();
      }
      MIES_RETURN_IF_ERROR(ExpectBlockEnd());
      break;
    }
    body->push_back(std::move(n));
    return OkStatus();
  }

  // Assignment targets: "x", "a, b", "(a, b)".
  Status ParseTargets(Node* n) {
    bool parens = AtOp("(");
    if (parens) Advance();
    while (true) {
      MIES_ASSIGN_OR_RETURN(std::string t, ExpectName());
      n->targets.push_back(t);
      if (!AtOp(",")) break;
      n->unpack = true;
      Advance();
      if (Cur().kind != TokenKind::kName) break;  // trailing comma
    }
    if (parens) {
      n->unpack = true;
      MIES_RETURN_IF_ERROR(ExpectOp(")"));
    }
    return OkStatus();
  }

  Status ParseFor(Body* body) {
    auto n = MakeNode(Node::Kind::kFor, Cur().line);
    Advance();
    MIES_RETURN_IF_ERROR(ParseTargets(n.get()));
    if (!AtName("in")) return Unexpected("'in'");
    Advance();
    MIES_ASSIGN_OR_RETURN(n->expr, ParseTuple(false, {"recursive"}));
    if (AtName("if")) {
      Advance();
      MIES_ASSIGN_OR_RETURN(n->cond, ParseExpression(true));
    }
    if (AtName("recursive")) {
      return Error(Cur(), "unsupported Jinja construct 'recursive' for loops");
    }
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    ++loop_depth_;
    std::string end;
    MIES_RETURN_IF_ERROR(ParseBody({"else", "endfor"}, &n->body, &end));
    --loop_depth_;
    Advance();
    if (end == "else") {
      MIES_RETURN_IF_ERROR(ExpectBlockEnd());
      MIES_RETURN_IF_ERROR(ParseBody({"endfor"}, &n->else_body, &end));
      Advance();
    }
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(n));
    return OkStatus();
  }

  Status ParseSet(Body* body) {
    const int line = Cur().line;
    Advance();
    auto n = MakeNode(Node::Kind::kSet, line);
    if (Cur().kind == TokenKind::kName && Peek().kind == TokenKind::kOperator &&
        Peek().text == ".") {
      n->targets.push_back(Cur().text);
      Advance();
      Advance();
      MIES_ASSIGN_OR_RETURN(n->attr, ExpectName());
    } else {
      MIES_RETURN_IF_ERROR(ParseTargets(n.get()));
    }
    if (AtOp("=")) {
      Advance();
      MIES_ASSIGN_OR_RETURN(n->expr, ParseTuple(true, {}));
      MIES_RETURN_IF_ERROR(ExpectBlockEnd());
      body->push_back(std::move(n));
      return OkStatus();
    }
    // Block assignment: {% set x %}...{% endset %}, optionally with "| filter".
    if (n->unpack || !n->attr.empty()) return Unexpected("'='");
    n->kind = Node::Kind::kSetBlock;
    if (AtOp("|")) {
      MIES_ASSIGN_OR_RETURN(n->expr, ParseFilterChain(nullptr));
    }
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    std::string end;
    MIES_RETURN_IF_ERROR(ParseBody({"endset"}, &n->body, &end));
    Advance();
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(n));
    return OkStatus();
  }

  Status ParseParams(Node* n) {
    MIES_RETURN_IF_ERROR(ExpectOp("("));
    while (!AtOp(")")) {
      if (!n->params.empty()) MIES_RETURN_IF_ERROR(ExpectOp(","));
      if (AtOp(")")) break;
      MIES_ASSIGN_OR_RETURN(std::string p, ExpectName());
      ExprPtr def;
      if (AtOp("=")) {
        Advance();
        MIES_ASSIGN_OR_RETURN(def, ParseExpression(true));
      }
      n->params.emplace_back(p, std::move(def));
    }
    Advance();
    return OkStatus();
  }

  Status ParseMacro(Body* body) {
    auto n = MakeNode(Node::Kind::kMacro, Cur().line);
    Advance();
    MIES_ASSIGN_OR_RETURN(n->name, ExpectName());
    MIES_RETURN_IF_ERROR(ParseParams(n.get()));
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    names_seen_.emplace_back();
    const int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;  // break/continue cannot cross a macro boundary
    std::string end;
    MIES_RETURN_IF_ERROR(ParseBody({"endmacro"}, &n->body, &end));
    loop_depth_ = saved_loop_depth;
    Advance();
    if (Cur().kind == TokenKind::kName) Advance();  // optional "endmacro name"
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    const auto& seen = names_seen_.back();
    n->uses_varargs = seen.count("varargs") > 0;
    n->uses_kwargs = seen.count("kwargs") > 0;
    n->uses_caller = seen.count("caller") > 0;
    names_seen_.pop_back();
    body->push_back(std::move(n));
    return OkStatus();
  }

  Status ParseCallBlock(Body* body) {
    auto n = MakeNode(Node::Kind::kCallBlock, Cur().line);
    Advance();
    if (AtOp("(")) MIES_RETURN_IF_ERROR(ParseParams(n.get()));
    MIES_ASSIGN_OR_RETURN(n->expr, ParseExpression(true));
    if (n->expr->kind != Expr::Kind::kCall) return Error(Cur(), "expected a call after 'call'");
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    names_seen_.emplace_back();
    std::string end;
    MIES_RETURN_IF_ERROR(ParseBody({"endcall"}, &n->body, &end));
    names_seen_.pop_back();
    Advance();
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(n));
    return OkStatus();
  }

  Status ParseFilterBlock(Body* body) {
    auto n = MakeNode(Node::Kind::kFilterBlock, Cur().line);
    Advance();
    MIES_ASSIGN_OR_RETURN(n->expr, ParseFilterChain(nullptr, /*leading_pipe=*/false));
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    std::string end;
    MIES_RETURN_IF_ERROR(ParseBody({"endfilter"}, &n->body, &end));
    Advance();
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(n));
    return OkStatus();
  }

  Status ParseWith(Body* body) {
    auto n = MakeNode(Node::Kind::kWith, Cur().line);
    Advance();
    while (Cur().kind != TokenKind::kBlockEnd) {
      if (!n->targets.empty()) MIES_RETURN_IF_ERROR(ExpectOp(","));
      MIES_ASSIGN_OR_RETURN(std::string t, ExpectName());
      MIES_RETURN_IF_ERROR(ExpectOp("="));
      MIES_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
      n->targets.push_back(t);
      n->values.push_back(std::move(v));
    }
    Advance();
    std::string end;
    MIES_RETURN_IF_ERROR(ParseBody({"endwith"}, &n->body, &end));
    Advance();
    MIES_RETURN_IF_ERROR(ExpectBlockEnd());
    body->push_back(std::move(n));
    return OkStatus();
  }

  // ---- expressions (precedence as in jinja2/parser.py) ----

  bool AtTupleEnd(const std::set<std::string>& extra_ends) const {
    const Token& t = Cur();
    if (t.kind == TokenKind::kVariableEnd || t.kind == TokenKind::kBlockEnd ||
        t.kind == TokenKind::kEof) {
      return true;
    }
    if (t.kind == TokenKind::kOperator && t.text == ")") return true;
    return t.kind == TokenKind::kName && extra_ends.count(t.text) > 0;
  }

  StatusOr<ExprPtr> ParseTuple(bool with_condexpr, const std::set<std::string>& extra_ends,
                               bool explicit_parens = false) {
    const int line = Cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) MIES_RETURN_IF_ERROR(ExpectOp(","));
      if (AtTupleEnd(extra_ends)) break;
      MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseExpression(with_condexpr));
      items.push_back(std::move(e));
      if (AtOp(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) return Unexpected("an expression");
    }
    auto t = MakeExpr(Expr::Kind::kTuple, line);
    t->children = std::move(items);
    return t;
  }

  StatusOr<ExprPtr> ParseExpression(bool with_condexpr) {
    DepthGuard guard(depth_);
    MIES_RETURN_IF_ERROR(CheckDepth());
    if (!with_condexpr) return ParseOr();
    MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseOr());
    while (AtName("if")) {
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      ExprPtr other;
      if (AtName("else")) {
        Advance();
        MIES_ASSIGN_OR_RETURN(other, ParseExpression(true));
      }
      auto c = MakeExpr(Expr::Kind::kCondition, line);
      c->children.push_back(std::move(e));
      c->children.push_back(std::move(cond));
      c->children.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr Binary(std::string op, ExprPtr a, ExprPtr b, int line) {
    auto e = MakeExpr(Expr::Kind::kBinary, line);
    e->name = std::move(op);
    e->children.push_back(std::move(a));
    e->children.push_back(std::move(b));
    return e;
  }

  StatusOr<ExprPtr> ParseOr() {
    MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseAnd());
    while (AtName("or")) {
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr r, ParseAnd());
      e = Binary("or", std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> ParseAnd() {
    MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseNot());
    while (AtName("and")) {
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr r, ParseNot());
      e = Binary("and", std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> ParseNot() {
    DepthGuard guard(depth_);
    MIES_RETURN_IF_ERROR(CheckDepth());
    if (AtName("not")) {
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      auto e = MakeExpr(Expr::Kind::kUnary, line);
      e->name = "not";
      e->children.push_back(std::move(operand));
      return e;
    }
    return ParseCompare();
  }

  StatusOr<ExprPtr> ParseCompare() {
    const int line = Cur().line;
    MIES_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (Cur().kind == TokenKind::kOperator &&
          (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" || Cur().text == ">" ||
           Cur().text == "<=" || Cur().text == ">=")) {
        op = Cur().text;
        Advance();
      } else if (AtName("in")) {
        op = "in";
        Advance();
      } else if (AtName("not") && Peek().kind == TokenKind::kName && Peek().text == "in") {
        op = "not in";
        Advance();
        Advance();
      } else {
        break;
      }
      MIES_ASSIGN_OR_RETURN(ExprPtr rhs, ParseMath1());
      if (!cmp) {
        cmp = MakeExpr(Expr::Kind::kCompare, line);
        cmp->children.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(std::move(rhs));
    }
    if (cmp) return cmp;
    return first;
  }

  StatusOr<ExprPtr> ParseMath1() {
    MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseConcat());
    while (AtOp("+") || AtOp("-")) {
      std::string op = Cur().text;
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr r, ParseConcat());
      e = Binary(op, std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> ParseConcat() {
    MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseMath2());
    while (AtOp("~")) {
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr r, ParseMath2());
      e = Binary("~", std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> ParseMath2() {
    MIES_ASSIGN_OR_RETURN(ExprPtr e, ParsePow());
    while (AtOp("*") || AtOp("/") || AtOp("//") || AtOp("%")) {
      std::string op = Cur().text;
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr r, ParsePow());
      e = Binary(op, std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> ParsePow() {
    MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseUnary(true));
    while (AtOp("**")) {
      const int line = Cur().line;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr r, ParseUnary(true));
      e = Binary("**", std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    DepthGuard guard(depth_);
    MIES_RETURN_IF_ERROR(CheckDepth());
    ExprPtr e;
    if (AtOp("-") || AtOp("+")) {
      const int line = Cur().line;
      std::string op = Cur().text;
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      e = MakeExpr(Expr::Kind::kUnary, line);
      e->name = op;
      e->children.push_back(std::move(operand));
    } else {
      MIES_ASSIGN_OR_RETURN(e, ParsePrimary());
    }
    MIES_ASSIGN_OR_RETURN(e, ParsePostfix(std::move(e)));
    if (with_filter) {
      MIES_ASSIGN_OR_RETURN(e, ParseFilterExpr(std::move(e)));
    }
    return e;
  }

  StatusOr<ExprPtr> ParsePrimary() {
    const Token& t = Cur();
    const int line = t.line;
    if (t.kind == TokenKind::kName) {
      const std::string n = t.text;
      Advance();
      auto e = MakeExpr(Expr::Kind::kLiteral, line);
      if (n == "true" || n == "True") {
        e->literal = Value::Bool(true);
      } else if (n == "false" || n == "False") {
        e->literal = Value::Bool(false);
      } else if (n == "none" || n == "None") {
        e->literal = Value::None();
      } else {
        e->kind = Expr::Kind::kName;
        e->name = n;
        for (auto& seen : names_seen_) seen.insert(n);
      }
      return e;
    }
    if (t.kind == TokenKind::kString) {
      std::string s;
      while (Cur().kind == TokenKind::kString) {  // adjacent literals concatenate
        s += Cur().text;
        Advance();
      }
      auto e = MakeExpr(Expr::Kind::kLiteral, line);
      e->literal = Value::String(std::move(s));
      return e;
    }
    if (t.kind == TokenKind::kInt || t.kind == TokenKind::kFloat) {
      auto e = MakeExpr(Expr::Kind::kLiteral, line);
      e->literal =
          t.kind == TokenKind::kInt ? Value::Int(t.int_value) : Value::Float(t.float_value);
      Advance();
      return e;
    }
    if (AtOp("(")) {
      Advance();
      MIES_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(true, {}, /*explicit_parens=*/true));
      MIES_RETURN_IF_ERROR(ExpectOp(")"));
      return e;
    }
    if (AtOp("[")) {
      Advance();
      auto e = MakeExpr(Expr::Kind::kList, line);
      while (!AtOp("]")) {
        if (!e->children.empty()) MIES_RETURN_IF_ERROR(ExpectOp(","));
        if (AtOp("]")) break;
        MIES_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
        e->children.push_back(std::move(item));
      }
      Advance();
      return e;
    }
    if (AtOp("{")) {
      Advance();
      auto e = MakeExpr(Expr::Kind::kDict, line);
      while (!AtOp("}")) {
        if (!e->children.empty()) MIES_RETURN_IF_ERROR(ExpectOp(","));
        if (AtOp("}")) break;
        MIES_ASSIGN_OR_RETURN(ExprPtr k, ParseExpression(true));
        MIES_RETURN_IF_ERROR(ExpectOp(":"));
        MIES_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
        e->children.push_back(std::move(k));
        e->children.push_back(std::move(v));
      }
      Advance();
      return e;
    }
    return Unexpected("an expression");
  }

  StatusOr<ExprPtr> ParsePostfix(ExprPtr e) {
    while (true) {
      const int line = Cur().line;
      if (AtOp(".")) {
        Advance();
        if (Cur().kind == TokenKind::kName) {
          auto g = MakeExpr(Expr::Kind::kGetAttr, line);
          g->name = Cur().text;
          g->children.push_back(std::move(e));
          e = std::move(g);
        } else if (Cur().kind == TokenKind::kInt) {  // x.0 is x[0]
          auto g = MakeExpr(Expr::Kind::kGetItem, line);
          auto k = MakeExpr(Expr::Kind::kLiteral, line);
          k->literal = Value::Int(Cur().int_value);
          g->children.push_back(std::move(e));
          g->children.push_back(std::move(k));
          e = std::move(g);
        } else {
          return Unexpected("an attribute name");
        }
        Advance();
      } else if (AtOp("[")) {
        Advance();
        MIES_ASSIGN_OR_RETURN(e, ParseSubscript(std::move(e), line));
      } else if (AtOp("(")) {
        MIES_ASSIGN_OR_RETURN(e, ParseCall(std::move(e)));
      } else {
        return e;
      }
    }
  }

  StatusOr<ExprPtr> ParseSubscript(ExprPtr obj, int line) {
    // obj[ expr ] or obj[ a:b:c ]
    std::vector<ExprPtr> parts(3);
    int part = 0;
    bool is_slice = false;
    while (!AtOp("]")) {
      if (AtOp(":")) {
        is_slice = true;
        if (++part > 2) return Unexpected("']'");
        Advance();
        continue;
      }
      if (parts[part]) return Unexpected("':' or ']'");
      MIES_ASSIGN_OR_RETURN(parts[part], ParseExpression(true));
      if (AtOp(",")) {
        return Error(Cur(), "unsupported Jinja construct: tuple subscript");
      }
    }
    Advance();
    if (!is_slice) {
      if (!parts[0]) return Error(Cur(), "empty subscript");
      auto g = MakeExpr(Expr::Kind::kGetItem, line);
      g->children.push_back(std::move(obj));
      g->children.push_back(std::move(parts[0]));
      return g;
    }
    auto s = MakeExpr(Expr::Kind::kSlice, line);
    s->children.push_back(std::move(obj));
    for (auto& p : parts) s->children.push_back(std::move(p));
    return s;
  }

  Status ParseArgs(Expr* e) {
    MIES_RETURN_IF_ERROR(ExpectOp("("));
    bool first = true;
    while (!AtOp(")")) {
      if (!first) MIES_RETURN_IF_ERROR(ExpectOp(","));
      first = false;
      if (AtOp(")")) break;
      if (AtOp("*") || AtOp("**")) {
        return Error(Cur(), "unsupported Jinja construct: '" + Cur().text + "' argument unpacking");
      }
      if (Cur().kind == TokenKind::kName && Peek().kind == TokenKind::kOperator &&
          Peek().text == "=") {
        std::string k = Cur().text;
        Advance();
        Advance();
        MIES_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
        e->kwargs.emplace_back(k, std::move(v));
      } else {
        if (!e->kwargs.empty()) return Error(Cur(), "positional argument follows keyword argument");
        MIES_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
        e->children.push_back(std::move(v));
      }
    }
    Advance();
    return OkStatus();
  }

  StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    auto c = MakeExpr(Expr::Kind::kCall, Cur().line);
    c->children.push_back(std::move(callee));
    MIES_RETURN_IF_ERROR(ParseArgs(c.get()));
    return c;
  }

  StatusOr<std::string> ParseDottedName() {
    MIES_ASSIGN_OR_RETURN(std::string n, ExpectName());
    while (AtOp(".")) {
      Advance();
      MIES_ASSIGN_OR_RETURN(std::string part, ExpectName());
      n += "." + part;
    }
    return n;
  }

  // `input | f1(args) | f2` ; input null in filter blocks and block sets.
  StatusOr<ExprPtr> ParseFilterChain(ExprPtr input, bool leading_pipe = true) {
    ExprPtr e = std::move(input);
    bool first = true;
    while (true) {
      if (leading_pipe || !first) {
        if (!AtOp("|")) break;
        Advance();
      }
      first = false;
      const int line = Cur().line;
      MIES_ASSIGN_OR_RETURN(std::string name, ParseDottedName());
      if (!IsKnownFilter(name)) {
        return InvalidArgument("template line ", line, ": unsupported Jinja filter '", name, "'");
      }
      auto f = MakeExpr(Expr::Kind::kFilter, line);
      f->name = name;
      f->children.push_back(std::move(e));
      if (AtOp("(")) MIES_RETURN_IF_ERROR(ParseArgs(f.get()));
      e = std::move(f);
    }
    return e;
  }

  StatusOr<ExprPtr> ParseFilterExpr(ExprPtr e) {
    while (true) {
      if (AtOp("|")) {
        MIES_ASSIGN_OR_RETURN(e, ParseFilterChain(std::move(e)));
      } else if (AtName("is")) {
        MIES_ASSIGN_OR_RETURN(e, ParseTest(std::move(e)));
      } else if (AtOp("(")) {
        MIES_ASSIGN_OR_RETURN(e, ParseCall(std::move(e)));
      } else {
        return e;
      }
    }
  }

  StatusOr<ExprPtr> ParseTest(ExprPtr input) {
    const int line = Cur().line;
    Advance();  // is
    auto t = MakeExpr(Expr::Kind::kTest, line);
    if (AtName("not")) {
      t->negated = true;
      Advance();
    }
    MIES_ASSIGN_OR_RETURN(t->name, ParseDottedName());
    if (!IsKnownTest(t->name)) {
      return InvalidArgument("template line ", line, ": unsupported Jinja test '", t->name, "'");
    }
    t->children.push_back(std::move(input));
    const Token& c = Cur();
    if (AtOp("(")) {
      MIES_RETURN_IF_ERROR(ParseArgs(t.get()));
    } else if ((c.kind == TokenKind::kName || c.kind == TokenKind::kString ||
                c.kind == TokenKind::kInt || c.kind == TokenKind::kFloat || AtOp("[") ||
                AtOp("{")) &&
               !(AtName("else") || AtName("or") || AtName("and"))) {
      if (AtName("is")) return Error(c, "You cannot chain multiple tests with is");
      // A single bare argument: "x is divisibleby 3", "x is sameas false".
      MIES_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      MIES_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      t->children.push_back(std::move(arg));
    }
    return t;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0;
  std::vector<std::set<std::string>> names_seen_;  // per enclosing macro / call block
};

}  // namespace

StatusOr<ast::Template> ParseTemplate(std::string_view source) {
  MIES_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  return Parser(std::move(tokens)).Run();
}

}  // namespace mies::jinja
