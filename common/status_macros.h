// Early-return helpers for absl::Status and absl::StatusOr: the one way fallible calls are chained in ftd.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#define FTD_STATUS_CONCAT_INNER_(a, b) a##b
#define FTD_STATUS_CONCAT_(a, b) FTD_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                                            \
  do {                                                                   \
    ::absl::Status ftd_status_ = (expr);                                 \
    if (!ftd_status_.ok()) return ftd_status_;                           \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on error returns its status,
// otherwise moves the value into `lhs`, which may be a declaration (`auto x`) or an existing lvalue.
#define ASSIGN_OR_RETURN(lhs, expr) \
  FTD_ASSIGN_OR_RETURN_IMPL_(FTD_STATUS_CONCAT_(ftd_statusor_, __LINE__), lhs, expr)

#define FTD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

// The same, with a non-OK status's message prefixed by `context` (see Annotate below): the caller says what it
// was doing, e.g. ASSIGN_OR_RETURN_CONTEXT(auto model, LoadHfModel(dir), "base_model").
#define RETURN_IF_ERROR_CONTEXT(expr, context)                           \
  do {                                                                   \
    ::absl::Status ftd_status_ = (expr);                                 \
    if (!ftd_status_.ok()) return ::ftd::Annotate(ftd_status_, context); \
  } while (false)

#define ASSIGN_OR_RETURN_CONTEXT(lhs, expr, context) \
  FTD_ASSIGN_OR_RETURN_CONTEXT_IMPL_(FTD_STATUS_CONCAT_(ftd_statusor_, __LINE__), lhs, expr, context)

#define FTD_ASSIGN_OR_RETURN_CONTEXT_IMPL_(statusor, lhs, expr, context)        \
  auto statusor = (expr);                                                       \
  if (!statusor.ok()) return ::ftd::Annotate(std::move(statusor).status(), context); \
  lhs = *std::move(statusor)

namespace ftd {

// Prefixes a non-OK status's message with `context` ("loading job.yaml: <message>"), keeping its code.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace ftd
