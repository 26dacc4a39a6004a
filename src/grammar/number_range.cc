#include "grammar/number_range.h"

#include <string>

namespace mies::grammar {
namespace {

// Magnitudes as unsigned, so -INT64_MIN fits.
using U = uint64_t;
constexpr U kNoMax = ~U{0};  // unbounded above

ExprPtr Digit(char lo, char hi) {
  return Chars({{static_cast<uint32_t>(lo), static_cast<uint32_t>(hi)}});
}
ExprPtr AnyDigits(int n) { return Repeat(Digit('0', '9'), n, n); }

// Digit strings of equal length L, a <= b (as strings), any leading digit.
ExprPtr SameLength(const std::string& a, const std::string& b) {
  if (a.empty()) return Empty();
  if (a[0] == b[0]) return Seq({Lit(a.substr(0, 1)), SameLength(a.substr(1), b.substr(1))});
  const std::string ra = a.substr(1), rb = b.substr(1);
  if (ra.find_first_not_of('0') == std::string::npos &&
      rb.find_first_not_of('9') == std::string::npos) {
    return Seq({Digit(a[0], b[0]), AnyDigits(static_cast<int>(ra.size()))});
  }
  std::vector<ExprPtr> alts;
  alts.push_back(Seq({Lit(a.substr(0, 1)), SameLength(ra, std::string(ra.size(), '9'))}));
  if (a[0] + 1 <= b[0] - 1) {
    alts.push_back(Seq({Digit(static_cast<char>(a[0] + 1), static_cast<char>(b[0] - 1)),
                        AnyDigits(static_cast<int>(ra.size()))}));
  }
  alts.push_back(Seq({Lit(b.substr(0, 1)), SameLength(std::string(rb.size(), '0'), rb)}));
  return Alt(std::move(alts));
}

U Pow10(int n) {
  U v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

// Canonical decimal text of the integers in [a, b] (b may be kNoMax), a <= b.
ExprPtr Magnitudes(U a, U b) {
  const std::string sa = std::to_string(a);
  std::vector<ExprPtr> alts;
  const int la = static_cast<int>(sa.size());
  if (b == kNoMax) {
    // Same length as a and >= a, then any longer number.
    alts.push_back(SameLength(sa, std::string(la, '9')));
    alts.push_back(Seq({Digit('1', '9'), Repeat(Digit('0', '9'), la, kUnbounded)}));
    return Alt(std::move(alts));
  }
  const int lb = static_cast<int>(std::to_string(b).size());
  for (int len = la; len <= lb; ++len) {
    const U lo = len == la ? a : Pow10(len - 1);
    const U hi = len == lb ? b : Pow10(len) - 1;
    alts.push_back(SameLength(std::to_string(lo), std::to_string(hi)));
  }
  return Alt(std::move(alts));
}

U Magnitude(int64_t v) { return v < 0 ? U(-(v + 1)) + 1 : U(v); }

ExprPtr Fraction() { return Opt(Seq({Lit("."), Plus(Digit('0', '9'))})); }
ExprPtr ZeroFraction() { return Opt(Seq({Lit("."), Plus(Lit("0"))})); }

// I.F with magnitude in [a, b] (b may be kNoMax): I in [a, b - 1] with any fraction, or
// I = b with a zero fraction.
ExprPtr DecimalMagnitudes(U a, U b) {
  std::vector<ExprPtr> alts;
  if (b == kNoMax) return Seq({Magnitudes(a, kNoMax), Fraction()});
  if (b > a) alts.push_back(Seq({Magnitudes(a, b - 1), Fraction()}));
  alts.push_back(Seq({Lit(std::to_string(b)), ZeroFraction()}));
  return Alt(std::move(alts));
}

// Values in [lo, hi] as "-" magnitude | magnitude. `zero_negative`: "-0..." may be written (a
// decimal like -0.5 needs it; an integer never writes -0).
StatusOr<ExprPtr> SignedRange(std::optional<int64_t> lo, std::optional<int64_t> hi,
                              const char* what, bool zero_negative, ExprPtr (*magnitudes)(U, U)) {
  if (lo && hi && *lo > *hi) return InvalidArgument(what, " range [", *lo, ", ", *hi, "] is empty");
  std::vector<ExprPtr> alts;
  if (!lo || *lo < 0) {  // -m with m in [max(0 or 1, -hi), -lo]
    const U a = hi && *hi < 0 ? Magnitude(*hi) : zero_negative ? 0 : 1;
    const U b = lo ? Magnitude(*lo) : kNoMax;
    alts.push_back(Seq({Lit("-"), magnitudes(a, b)}));
  }
  if (!hi || *hi >= 0) {  // [max(0, lo), hi]
    const U a = lo && *lo > 0 ? U(*lo) : 0;
    const U b = hi ? U(*hi) : kNoMax;
    alts.push_back(magnitudes(a, b));
  }
  return Alt(std::move(alts));
}

}  // namespace

StatusOr<ExprPtr> IntegerRange(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  return SignedRange(lo, hi, "integer", /*zero_negative=*/false, &Magnitudes);
}

StatusOr<ExprPtr> NumberRange(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  return SignedRange(lo, hi, "number", /*zero_negative=*/true, &DecimalMagnitudes);
}

}  // namespace mies::grammar
