// JSON numbers within bounds, as grammar IR over their decimal text: the classic digit-by-digit
// range construction (e.g. [10, 255] -> 1[0-9] | [2-9][0-9] | 1[0-9][0-9] | 2[0-4][0-9] |
// 25[0-5]). Integers are written without leading zeros (and never as "-0").
#pragma once

#include <cstdint>
#include <optional>

#include "common/status.h"
#include "grammar/expr.h"

namespace mies::grammar {

// Integers in [lo, hi] (either side may be open). Error when the range is empty.
StatusOr<ExprPtr> IntegerRange(std::optional<int64_t> lo, std::optional<int64_t> hi);

// Decimal numbers (optional fraction, no exponent) in [lo, hi], bounds integral.
StatusOr<ExprPtr> NumberRange(std::optional<int64_t> lo, std::optional<int64_t> hi);

}  // namespace mies::grammar
