#include "grammar/expr.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mies::grammar {

CharRanges NormalizeRanges(CharRanges ranges) {
  CharRanges clipped;
  for (auto [lo, hi] : ranges) {
    hi = std::min(hi, kMaxCodePoint);
    if (lo > hi) continue;
    // Surrogates are not scalar values: never part of a class.
    if (lo < 0xD800 && hi >= 0xD800) {
      clipped.emplace_back(lo, std::min<uint32_t>(hi, 0xD7FF));
      if (hi > 0xDFFF) clipped.emplace_back(0xE000, hi);
    } else if (lo >= 0xD800 && lo <= 0xDFFF) {
      if (hi > 0xDFFF) clipped.emplace_back(0xE000, hi);
    } else {
      clipped.emplace_back(lo, hi);
    }
  }
  std::sort(clipped.begin(), clipped.end());
  CharRanges out;
  for (const auto& r : clipped) {
    if (!out.empty() && r.first <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, r.second);
    } else {
      out.push_back(r);
    }
  }
  // 0xD7FF and 0xE000 are neighbours among scalar values.
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i - 1].second == 0xD7FF && out[i].first == 0xE000) {
      out[i - 1].second = out[i].second;
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(i));
      --i;
    }
  }
  return out;
}

CharRanges ComplementRanges(const CharRanges& ranges) {
  const CharRanges in = NormalizeRanges(ranges);
  CharRanges out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : in) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
  return NormalizeRanges(std::move(out));
}

ExprPtr Empty() { return std::make_shared<Expr>(); }

ExprPtr Lit(std::string_view bytes) {
  if (bytes.empty()) return Empty();
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::kLiteral;
  e->literal = std::string(bytes);
  return e;
}

ExprPtr Chars(CharRanges ranges) {
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::kChars;
  e->ranges = NormalizeRanges(std::move(ranges));
  return e;
}

ExprPtr Seq(std::vector<ExprPtr> items) {
  std::vector<ExprPtr> flat;
  for (ExprPtr& item : items) {
    if (item->kind == Expr::Kind::kEmpty) continue;
    if (item->kind == Expr::Kind::kSeq) {
      flat.insert(flat.end(), item->items.begin(), item->items.end());
    } else {
      flat.push_back(std::move(item));
    }
  }
  if (flat.empty()) return Empty();
  if (flat.size() == 1) return flat[0];
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::kSeq;
  e->items = std::move(flat);
  return e;
}

ExprPtr Alt(std::vector<ExprPtr> items) {
  std::vector<ExprPtr> flat;
  for (ExprPtr& item : items) {
    if (item->kind == Expr::Kind::kAlt) {
      flat.insert(flat.end(), item->items.begin(), item->items.end());
    } else {
      flat.push_back(std::move(item));
    }
  }
  if (flat.size() == 1) return flat[0];
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::kAlt;
  e->items = std::move(flat);
  return e;
}

ExprPtr Repeat(ExprPtr item, int min, int max) {
  if (max == 0 || item->kind == Expr::Kind::kEmpty) return Empty();
  if (min == 1 && max == 1) return item;
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::kRepeat;
  e->items = {std::move(item)};
  e->min = min;
  e->max = max;
  return e;
}

ExprPtr Ref(int rule) {
  auto e = std::make_shared<Expr>();
  e->kind = Expr::Kind::kRef;
  e->rule = rule;
  return e;
}

int64_t EstimateSize(const Expr& e) {
  constexpr int64_t kCap = int64_t{1} << 40;
  switch (e.kind) {
    case Expr::Kind::kEmpty:
      return 1;
    case Expr::Kind::kLiteral:
      return static_cast<int64_t>(e.literal.size()) + 1;
    case Expr::Kind::kChars:
      return 2 + static_cast<int64_t>(e.ranges.size());
    case Expr::Kind::kRef:
      return 2;
    case Expr::Kind::kSeq:
    case Expr::Kind::kAlt: {
      int64_t n = 1;
      for (const ExprPtr& item : e.items) n = std::min(kCap, n + EstimateSize(*item));
      return n;
    }
    case Expr::Kind::kRepeat: {
      const int64_t copies = std::max(1, e.max == kUnbounded ? e.min + 1 : e.max);
      return std::min(kCap, copies * EstimateSize(*e.items[0]) + 1);
    }
  }
  return 1;
}

namespace {

std::string QuoteBytes(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      out += absl::StrFormat("\\x%02X", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string CodePointText(uint32_t cp) {
  if (cp >= 0x21 && cp < 0x7F && cp != ']' && cp != '\\' && cp != '-' && cp != '^') {
    return std::string(1, static_cast<char>(cp));
  }
  return cp <= 0xFFFF ? absl::StrFormat("\\u%04X", cp) : absl::StrFormat("\\U%08X", cp);
}

}  // namespace

std::string ToString(const Expr& e, const Grammar* g) {
  switch (e.kind) {
    case Expr::Kind::kEmpty:
      return "\"\"";
    case Expr::Kind::kLiteral:
      return QuoteBytes(e.literal);
    case Expr::Kind::kChars: {
      std::string out = "[";
      for (const auto& [lo, hi] : e.ranges) {
        out += CodePointText(lo);
        if (hi != lo) out += "-" + CodePointText(hi);
      }
      return out + "]";
    }
    case Expr::Kind::kRef:
      return g != nullptr && e.rule >= 0 && e.rule < static_cast<int>(g->names.size())
                 ? g->names[e.rule]
                 : absl::StrCat("rule", e.rule);
    case Expr::Kind::kSeq:
    case Expr::Kind::kAlt: {
      std::string out = "(";
      for (size_t i = 0; i < e.items.size(); ++i) {
        if (i > 0) out += e.kind == Expr::Kind::kSeq ? " " : " | ";
        out += ToString(*e.items[i], g);
      }
      return out + ")";
    }
    case Expr::Kind::kRepeat: {
      std::string inner = ToString(*e.items[0], g);
      if (e.min == 0 && e.max == kUnbounded) return inner + "*";
      if (e.min == 1 && e.max == kUnbounded) return inner + "+";
      if (e.min == 0 && e.max == 1) return inner + "?";
      if (e.max == kUnbounded) return absl::StrCat(inner, "{", e.min, ",}");
      if (e.min == e.max) return absl::StrCat(inner, "{", e.min, "}");
      return absl::StrCat(inner, "{", e.min, ",", e.max, "}");
    }
  }
  return "";
}

}  // namespace mies::grammar
