#include "server/structural_tag_grammar.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "grammar/gbnf_parser.h"
#include "grammar/json_schema.h"
#include "grammar/regex_parser.h"

namespace mies::server {

using grammar::Expr;
using grammar::ExprPtr;
using nlohmann::ordered_json;

namespace {

// UTF-8 text -> code points (invalid bytes are taken as U+FFFD, which no marker contains).
std::vector<uint32_t> CodePoints(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    uint32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string Utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

ExprPtr AnyText() { return grammar::Star(grammar::Chars({{0, grammar::kMaxCodePoint}})); }

// Every character but `excluded`.
ExprPtr CharsBut(const std::set<uint32_t>& excluded) {
  grammar::CharRanges r;
  for (uint32_t c : excluded) r.emplace_back(c, c);
  return grammar::Chars(grammar::ComplementRanges(grammar::NormalizeRanges(std::move(r))));
}

// A trie of the markers' code points after their first.
struct TrieNode {
  bool complete = false;  // a whole marker ends here
  std::map<uint32_t, std::unique_ptr<TrieNode>> children;
};

// The marker begun at `n` continued, ending before it is complete (possibly right away).
ExprPtr Prefix(const TrieNode& n) {
  std::vector<ExprPtr> alts = {grammar::Empty()};
  for (const auto& [c, child] : n.children) {
    if (!child->complete) alts.push_back(grammar::Seq({grammar::Lit(Utf8(c)), Prefix(*child)}));
  }
  return grammar::Alt(std::move(alts));
}

// The marker begun at `n` continued, then broken by a character that neither continues it nor
// starts a marker.
ExprPtr Break(const TrieNode& n, const std::set<uint32_t>& firsts) {
  std::set<uint32_t> excluded = firsts;
  for (const auto& [c, child] : n.children) excluded.insert(c);
  std::vector<ExprPtr> alts = {CharsBut(excluded)};
  for (const auto& [c, child] : n.children) {
    if (!child->complete) {
      alts.push_back(grammar::Seq({grammar::Lit(Utf8(c)), Break(*child, firsts)}));
    }
  }
  return grammar::Alt(std::move(alts));
}

// Any text in which none of `markers` occurs. With F the markers' first characters (each found
// nowhere else in them), such a text is a run of segments, each a character not in F or a
// marker's start cut short and broken (B), where a start cut short right before the next F
// character (C) may come in between: (notF | C* B)* C*.
StatusOr<ExprPtr> TextWithout(const std::vector<std::string>& markers, const std::string& where) {
  std::vector<std::vector<uint32_t>> cps;
  std::set<uint32_t> firsts;
  for (const std::string& m : markers) {
    if (m.empty()) return InvalidArgument(where, ": an empty end or trigger");
    cps.push_back(CodePoints(m));
    firsts.insert(cps.back()[0]);
  }
  std::map<uint32_t, TrieNode> roots;
  for (size_t i = 0; i < cps.size(); ++i) {
    TrieNode* node = &roots[cps[i][0]];
    for (size_t k = 1; k < cps[i].size(); ++k) {
      if (firsts.contains(cps[i][k])) {
        return InvalidArgument(where, ": \"", markers[i], "\" has the character \"",
                               Utf8(cps[i][k]),
                               "\" after its start, which also starts a marker; the grammar "
                               "engine needs ends and triggers whose first character appears "
                               "only there");
      }
      auto& child = node->children[cps[i][k]];
      if (!child) child = std::make_unique<TrieNode>();
      node = child.get();
    }
    node->complete = true;
  }
  std::vector<ExprPtr> cut, broken;
  for (const auto& [f, root] : roots) {
    if (root.complete) continue;  // a one-character marker: the character never appears
    cut.push_back(grammar::Seq({grammar::Lit(Utf8(f)), Prefix(root)}));
    broken.push_back(grammar::Seq({grammar::Lit(Utf8(f)), Break(root, firsts)}));
  }
  ExprPtr not_first = CharsBut(firsts);
  if (cut.empty()) return grammar::Star(not_first);
  ExprPtr c = grammar::Star(grammar::Alt(std::move(cut)));
  ExprPtr segment = grammar::Alt({not_first, grammar::Seq({c, grammar::Alt(std::move(broken))})});
  return grammar::Seq({grammar::Star(segment), c});
}

class Builder {
 public:
  StatusOr<grammar::Grammar> Build(const ordered_json& format) {
    const int root = g_.AddRule("root");
    MIES_ASSIGN_OR_RETURN(ExprPtr e, Format(format, "format"));
    g_.rules[root] = std::move(e);
    g_.root = root;
    return std::move(g_);
  }

 private:
  static Status Missing(const std::string& where, const char* member, const char* what) {
    return InvalidArgument(where, ".", member, " must be ", what);
  }
  static StatusOr<std::string> Str(const ordered_json& f, const std::string& where,
                                   const char* member, bool required = true) {
    auto it = f.find(member);
    if (it == f.end() || it->is_null()) {
      if (required) return Missing(where, member, "a string");
      return std::string();
    }
    if (!it->is_string()) return Missing(where, member, "a string");
    return it->get<std::string>();
  }
  static StatusOr<bool> Bool(const ordered_json& f, const std::string& where, const char* member,
                             bool fallback) {
    auto it = f.find(member);
    if (it == f.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return Missing(where, member, "a boolean");
    return it->get<bool>();
  }
  static StatusOr<const ordered_json*> List(const ordered_json& f, const std::string& where,
                                            const char* member) {
    auto it = f.find(member);
    if (it == f.end() || !it->is_array() || it->empty()) {
      return Missing(where, member, "a non-empty list");
    }
    return &*it;
  }

  // Adds `sub`'s rules, their references shifted; returns a reference to its root.
  ExprPtr Import(const grammar::Grammar& sub) {
    const int offset = static_cast<int>(g_.rules.size());
    const std::string prefix = "s" + std::to_string(imports_++) + "-";
    for (size_t i = 0; i < sub.rules.size(); ++i) {
      g_.AddRule(prefix + sub.names[i], nullptr, i < sub.keep.size() && sub.keep[i] != 0);
    }
    std::unordered_map<const Expr*, ExprPtr> memo;
    for (size_t i = 0; i < sub.rules.size(); ++i) {
      g_.rules[offset + i] = Shift(sub.rules[i], offset, memo);
    }
    return grammar::Ref(offset + sub.root);
  }

  static ExprPtr Shift(const ExprPtr& e, int offset,
                       std::unordered_map<const Expr*, ExprPtr>& memo) {
    if (!e) return e;
    if (auto it = memo.find(e.get()); it != memo.end()) return it->second;
    ExprPtr out;
    switch (e->kind) {
      case Expr::Kind::kEmpty:
      case Expr::Kind::kLiteral:
      case Expr::Kind::kChars:
        out = e;
        break;
      case Expr::Kind::kRef:
        out = grammar::Ref(e->rule + offset);
        break;
      case Expr::Kind::kRepeat:
        out = grammar::Repeat(Shift(e->items.at(0), offset, memo), e->min, e->max);
        break;
      case Expr::Kind::kSeq:
      case Expr::Kind::kAlt: {
        std::vector<ExprPtr> items;
        items.reserve(e->items.size());
        for (const ExprPtr& item : e->items) items.push_back(Shift(item, offset, memo));
        out = e->kind == Expr::Kind::kSeq ? grammar::Seq(std::move(items))
                                          : grammar::Alt(std::move(items));
        break;
      }
    }
    memo.emplace(e.get(), out);
    return out;
  }

  static std::string At(const std::string& where, const char* member, size_t i) {
    return where + "." + member + "[" + std::to_string(i) + "]";
  }

  // `end`: what follows, for any_text (empty: the end of the text).
  StatusOr<ExprPtr> Format(const ordered_json& f, const std::string& where,
                           const std::string& end = "") {
    if (!f.is_object()) return InvalidArgument(where, " must be an object");
    MIES_ASSIGN_OR_RETURN(std::string type, Str(f, where, "type"));
    if (type == "const_string") {
      MIES_ASSIGN_OR_RETURN(std::string value, Str(f, where, "value"));
      return grammar::Lit(value);
    }
    if (type == "json_schema") {
      auto it = f.find("json_schema");
      if (it == f.end() || !(it->is_object() || it->is_boolean())) {
        return Missing(where, "json_schema", "a JSON schema");
      }
      auto g = grammar::JsonSchemaToGrammar(*it);
      if (!g.ok()) return InvalidArgument(where, ": ", g.status().message());
      return Import(*g);
    }
    if (type == "regex") {
      MIES_ASSIGN_OR_RETURN(std::string pattern, Str(f, where, "pattern"));
      auto re = grammar::ParseRegex(pattern);
      if (!re.ok()) return InvalidArgument(where, ": ", re.status().message());
      return re->FullMatch();
    }
    if (type == "grammar") {
      MIES_ASSIGN_OR_RETURN(std::string text, Str(f, where, "grammar"));
      auto g = grammar::ParseGbnf(text);
      if (!g.ok()) return InvalidArgument(where, ": ", g.status().message());
      return Import(*g);
    }
    if (type == "any_text") {
      if (end.empty()) return AnyText();
      return TextWithout({end}, where);
    }
    if (type == "sequence" || type == "or") {
      MIES_ASSIGN_OR_RETURN(const ordered_json* elements, List(f, where, "elements"));
      std::vector<ExprPtr> items;
      for (size_t i = 0; i < elements->size(); ++i) {
        // Only a sequence's last element ends where the whole does.
        const bool last = type == "or" || i + 1 == elements->size();
        MIES_ASSIGN_OR_RETURN(ExprPtr e, Format((*elements)[i], At(where, "elements", i),
                                                last ? end : std::string()));
        items.push_back(std::move(e));
      }
      return type == "sequence" ? grammar::Seq(std::move(items)) : grammar::Alt(std::move(items));
    }
    if (type == "tag") return Tag(f, where);
    if (type == "tags_with_separator") {
      MIES_ASSIGN_OR_RETURN(ExprPtr tags, Tags(f, where));
      auto sep = Str(f, where, "separator", /*required=*/false);
      if (!sep.ok()) return sep.status();
      MIES_ASSIGN_OR_RETURN(bool at_least_one, Bool(f, where, "at_least_one", false));
      MIES_ASSIGN_OR_RETURN(bool stop_after_first, Bool(f, where, "stop_after_first", false));
      ExprPtr some =
          stop_after_first
              ? tags
              : grammar::Seq({tags, grammar::Star(grammar::Seq({grammar::Lit(*sep), tags}))});
      return at_least_one ? some : grammar::Opt(some);
    }
    if (type == "triggered_tags") {
      MIES_ASSIGN_OR_RETURN(const ordered_json* triggers, List(f, where, "triggers"));
      std::vector<std::string> markers;
      for (const ordered_json& t : *triggers) {
        if (!t.is_string()) return Missing(where, "triggers", "a list of strings");
        markers.push_back(t.get<std::string>());
      }
      MIES_ASSIGN_OR_RETURN(ExprPtr tags, Tags(f, where, &markers));
      MIES_ASSIGN_OR_RETURN(ExprPtr free, TextWithout(markers, where + ".triggers"));
      MIES_ASSIGN_OR_RETURN(bool at_least_one, Bool(f, where, "at_least_one", false));
      MIES_ASSIGN_OR_RETURN(bool stop_after_first, Bool(f, where, "stop_after_first", false));
      if (stop_after_first) {
        return grammar::Seq({free, at_least_one ? tags : grammar::Opt(tags)});
      }
      ExprPtr more = grammar::Star(grammar::Seq({tags, free}));
      return at_least_one ? grammar::Seq({free, tags, free, more}) : grammar::Seq({free, more});
    }
    return InvalidArgument(where, ".type \"", type,
                           "\" is not a structural tag format (const_string, json_schema, regex, "
                           "grammar, any_text, sequence, or, tag, tags_with_separator, "
                           "triggered_tags)");
  }

  StatusOr<ExprPtr> Tag(const ordered_json& f, const std::string& where) {
    MIES_ASSIGN_OR_RETURN(std::string begin, Str(f, where, "begin", /*required=*/false));
    MIES_ASSIGN_OR_RETURN(std::string end, Str(f, where, "end", /*required=*/false));
    auto content = f.find("content");
    if (content == f.end()) return Missing(where, "content", "a format");
    MIES_ASSIGN_OR_RETURN(ExprPtr body, Format(*content, where + ".content", end));
    return grammar::Seq({grammar::Lit(begin), body, grammar::Lit(end)});
  }

  // One of the tags (each {"type": "tag"} or just {begin, content, end}); with `triggers`, each
  // must begin with one.
  StatusOr<ExprPtr> Tags(const ordered_json& f, const std::string& where,
                         const std::vector<std::string>* triggers = nullptr) {
    MIES_ASSIGN_OR_RETURN(const ordered_json* tags, List(f, where, "tags"));
    std::vector<ExprPtr> alts;
    for (size_t i = 0; i < tags->size(); ++i) {
      const ordered_json& t = (*tags)[i];
      const std::string at = At(where, "tags", i);
      if (!t.is_object()) return InvalidArgument(at, " must be an object");
      if (triggers != nullptr) {
        const std::string begin = t.value("begin", "");
        bool ok = false;
        for (const std::string& trig : *triggers) ok = ok || begin.starts_with(trig);
        if (!ok) return InvalidArgument(at, ".begin \"", begin, "\" starts with no trigger");
      }
      MIES_ASSIGN_OR_RETURN(ExprPtr e, Tag(t, at));
      alts.push_back(std::move(e));
    }
    return grammar::Alt(std::move(alts));
  }

  grammar::Grammar g_;
  int imports_ = 0;
};

}  // namespace

StatusOr<grammar::Grammar> StructuralTagToGrammar(const ordered_json& tag) {
  if (!tag.is_object()) return InvalidArgument("structural tag must be an object");
  if (auto it = tag.find("format"); it != tag.end()) return Builder().Build(*it);
  return Builder().Build(tag);
}

}  // namespace mies::server
