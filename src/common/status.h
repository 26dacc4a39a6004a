// Error handling for mies: Abseil's Status and StatusOr, plus helpers that build messages
// which name the thing, the value and the rule.
#pragma once

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace mies {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

inline Status OkStatus() { return absl::OkStatus(); }

template <typename... Args>
Status InvalidArgument(const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(args...));
}
template <typename... Args>
Status FailedPrecondition(const Args&... args) {
  return absl::FailedPreconditionError(absl::StrCat(args...));
}
template <typename... Args>
Status NotFound(const Args&... args) {
  return absl::NotFoundError(absl::StrCat(args...));
}
template <typename... Args>
Status Internal(const Args&... args) {
  return absl::InternalError(absl::StrCat(args...));
}
template <typename... Args>
Status Unavailable(const Args&... args) {
  return absl::UnavailableError(absl::StrCat(args...));
}

template <typename... Args>
Status ResourceExhausted(const Args&... args) {
  return absl::ResourceExhaustedError(absl::StrCat(args...));
}

}  // namespace mies

// Propagates a non-OK Status from an expression returning Status.
#define MIES_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::mies::Status mies_status_ = (expr);        \
    if (!mies_status_.ok()) return mies_status_; \
  } while (0)

#define MIES_CONCAT_INNER_(a, b) a##b
#define MIES_CONCAT_(a, b) MIES_CONCAT_INNER_(a, b)
// Assigns the value of a StatusOr expression to `lhs`, or returns its error.
#define MIES_ASSIGN_OR_RETURN(lhs, expr) \
  MIES_ASSIGN_OR_RETURN_IMPL_(MIES_CONCAT_(mies_statusor_, __LINE__), lhs, expr)
// `lhs` may be a declaration (`auto x`), which parentheses would break.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define MIES_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
