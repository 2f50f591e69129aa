// CatchTorch: the one place LibTorch's exceptions become absl::Status.
// LibTorch throws (c10::Error and std:: exceptions) on bad shapes, devices
// and archives; every LibTorch call made behind our APIs runs inside
// CatchTorch so that nothing throws across a module boundary (STYLE.md,
// point 4). Header-only and torch-free itself: c10::Error derives from
// std::exception.
//
// Thread-safety: stateless; as thread-safe as the callable it runs.
#ifndef LATENTSEARCH_COMMON_MODEL_TORCH_ERRORS_H_
#define LATENTSEARCH_COMMON_MODEL_TORCH_ERRORS_H_

#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace latentsearch::model {

// Runs f (returning absl::Status) and returns its status, or INTERNAL
// "<what>: LibTorch: <exception message>" when it throws.
template <typename F>
absl::Status CatchTorch(absl::string_view what, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": LibTorch: ", e.what()));
  }
}

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_TORCH_ERRORS_H_
