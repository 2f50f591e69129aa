// Status propagation macros. Abseil 20220623 (Debian 12) ships none.
//
//   LS_RETURN_IF_ERROR(DoThing());
//   LS_ASSIGN_OR_RETURN(auto value, ComputeValue());
//   LS_ASSIGN_OR_RETURN(existing_var, ComputeValue());
#ifndef LATENTSEARCH_COMMON_BASE_STATUS_MACROS_H_
#define LATENTSEARCH_COMMON_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LS_RETURN_IF_ERROR(expr)                     \
  do {                                               \
    ::absl::Status ls_status_macro_status_ = (expr); \
    if (!ls_status_macro_status_.ok()) {             \
      return ls_status_macro_status_;                \
    }                                                \
  } while (false)

#define LS_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define LS_STATUS_MACROS_CONCAT_(x, y) LS_STATUS_MACROS_CONCAT_INNER_(x, y)

#define LS_ASSIGN_OR_RETURN(lhs, rexpr) \
  LS_ASSIGN_OR_RETURN_IMPL_(LS_STATUS_MACROS_CONCAT_(ls_statusor_, __LINE__), lhs, rexpr)

#define LS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) {                                 \
    return std::move(statusor).status();                \
  }                                                     \
  lhs = std::move(statusor).value()

#endif  // LATENTSEARCH_COMMON_BASE_STATUS_MACROS_H_
