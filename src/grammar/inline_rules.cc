// Inlining of non-recursive rules: a reference becomes a copy of the rule's expression, so the
// rule's states are plain DFA states of its caller (no stack, masks cached per state without
// context). Recursive rules (in a cycle of the reference graph) and big expansions stay rules.
#include <algorithm>
#include <functional>
#include <unordered_map>

#include "grammar/automaton.h"

namespace mies::grammar {
namespace {

void CollectRefs(const Expr& e, std::vector<int>* out) {
  if (e.kind == Expr::Kind::kRef) out->push_back(e.rule);
  for (const ExprPtr& item : e.items) CollectRefs(*item, out);
}

// Rules that belong to a cycle of the reference graph (Tarjan's SCC).
std::vector<bool> RecursiveRules(const Grammar& g) {
  const int n = static_cast<int>(g.rules.size());
  std::vector<std::vector<int>> edges(n);
  for (int r = 0; r < n; ++r) {
    if (g.rules[r]) CollectRefs(*g.rules[r], &edges[r]);
  }
  std::vector<int> index(n, -1), low(n, 0), stack;
  std::vector<bool> on_stack(n, false), recursive(n, false);
  int counter = 0;
  std::function<void(int)> visit = [&](int v) {
    index[v] = low[v] = counter++;
    stack.push_back(v);
    on_stack[v] = true;
    for (int w : edges[v]) {
      if (index[w] < 0) {
        visit(w);
        low[v] = std::min(low[v], low[w]);
      } else if (on_stack[w]) {
        low[v] = std::min(low[v], index[w]);
      }
    }
    if (low[v] == index[v]) {
      std::vector<int> scc;
      int w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = false;
        scc.push_back(w);
      } while (w != v);
      const bool self_loop = std::find(edges[v].begin(), edges[v].end(), v) != edges[v].end();
      if (scc.size() > 1 || self_loop) {
        for (int r : scc) recursive[r] = true;
      }
    }
  };
  for (int r = 0; r < n; ++r) {
    if (index[r] < 0) visit(r);
  }
  return recursive;
}

class Inliner {
 public:
  explicit Inliner(const Grammar& g) : g_(g), recursive_(RecursiveRules(g)) {
    expanded_.resize(g.rules.size());
  }

  ExprPtr ExpandRule(int r) {
    if (!expanded_[r]) expanded_[r] = Expand(g_.rules[r]);
    return expanded_[r];
  }

 private:
  ExprPtr Expand(const ExprPtr& e) {
    auto it = memo_.find(e.get());
    if (it != memo_.end()) return it->second;
    ExprPtr out = e;
    if (e->kind == Expr::Kind::kRef) {
      if (!recursive_[e->rule] && !g_.keep[e->rule]) {
        ExprPtr body = ExpandRule(e->rule);
        if (EstimateSize(*body) <= kInlineLimit) out = body;
      }
    } else if (!e->items.empty()) {
      std::vector<ExprPtr> items;
      bool changed = false;
      for (const ExprPtr& item : e->items) {
        items.push_back(Expand(item));
        changed = changed || items.back() != item;
      }
      if (changed) {
        auto copy = std::make_shared<Expr>(*e);
        copy->items = std::move(items);
        out = std::move(copy);
      }
    }
    memo_.emplace(e.get(), out);
    return out;
  }

  const Grammar& g_;
  std::vector<bool> recursive_;
  std::vector<ExprPtr> expanded_;
  std::unordered_map<const Expr*, ExprPtr> memo_;
};

ExprPtr Renumber(const ExprPtr& e, const std::vector<int>& map,
                 std::unordered_map<const Expr*, ExprPtr>& memo) {
  auto it = memo.find(e.get());
  if (it != memo.end()) return it->second;
  ExprPtr out = e;
  if (e->kind == Expr::Kind::kRef) {
    out = Ref(map[e->rule]);
  } else if (!e->items.empty()) {
    auto copy = std::make_shared<Expr>(*e);
    for (ExprPtr& item : copy->items) item = Renumber(item, map, memo);
    out = std::move(copy);
  }
  memo.emplace(e.get(), out);
  return out;
}

}  // namespace

Grammar InlineRules(const Grammar& g) {
  Inliner inliner(g);
  // Rules still referenced after inlining, root first.
  std::vector<int> order{g.root};
  std::vector<int> map(g.rules.size(), -1);
  map[g.root] = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    std::vector<int> refs;
    CollectRefs(*inliner.ExpandRule(order[i]), &refs);
    for (int r : refs) {
      if (map[r] < 0) {
        map[r] = static_cast<int>(order.size());
        order.push_back(r);
      }
    }
  }
  Grammar out;
  std::unordered_map<const Expr*, ExprPtr> memo;
  for (int r : order) out.AddRule(g.names[r], Renumber(inliner.ExpandRule(r), map, memo));
  out.root = 0;
  return out;
}

}  // namespace mies::grammar
