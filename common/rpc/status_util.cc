#include "common/rpc/status_util.h"

#include "absl/strings/str_cat.h"

namespace latentsearch::rpc {
namespace {

// absl::StatusCode and grpc::StatusCode share the canonical numbering
// (google.rpc.Code); these asserts keep the casts below honest.
static_assert(static_cast<int>(absl::StatusCode::kOk) == grpc::OK);
static_assert(static_cast<int>(absl::StatusCode::kCancelled) == grpc::CANCELLED);
static_assert(static_cast<int>(absl::StatusCode::kUnknown) == grpc::UNKNOWN);
static_assert(static_cast<int>(absl::StatusCode::kInvalidArgument) == grpc::INVALID_ARGUMENT);
static_assert(static_cast<int>(absl::StatusCode::kDeadlineExceeded) == grpc::DEADLINE_EXCEEDED);
static_assert(static_cast<int>(absl::StatusCode::kNotFound) == grpc::NOT_FOUND);
static_assert(static_cast<int>(absl::StatusCode::kAlreadyExists) == grpc::ALREADY_EXISTS);
static_assert(static_cast<int>(absl::StatusCode::kPermissionDenied) == grpc::PERMISSION_DENIED);
static_assert(static_cast<int>(absl::StatusCode::kResourceExhausted) == grpc::RESOURCE_EXHAUSTED);
static_assert(static_cast<int>(absl::StatusCode::kFailedPrecondition) == grpc::FAILED_PRECONDITION);
static_assert(static_cast<int>(absl::StatusCode::kAborted) == grpc::ABORTED);
static_assert(static_cast<int>(absl::StatusCode::kOutOfRange) == grpc::OUT_OF_RANGE);
static_assert(static_cast<int>(absl::StatusCode::kUnimplemented) == grpc::UNIMPLEMENTED);
static_assert(static_cast<int>(absl::StatusCode::kInternal) == grpc::INTERNAL);
static_assert(static_cast<int>(absl::StatusCode::kUnavailable) == grpc::UNAVAILABLE);
static_assert(static_cast<int>(absl::StatusCode::kDataLoss) == grpc::DATA_LOSS);
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) == grpc::UNAUTHENTICATED);

constexpr int kMaxCanonicalCode = grpc::UNAUTHENTICATED;

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  if (code < 0 || code > kMaxCanonicalCode) {
    return grpc::Status(grpc::UNKNOWN,
                        absl::StrCat("non-canonical status code ", code, ": ", status.message()));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = static_cast<int>(status.error_code());
  if (code < 0 || code > kMaxCanonicalCode) {
    return absl::UnknownError(
        absl::StrCat("non-canonical gRPC status code ", code, ": ", status.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.error_message());
}

std::string FormatGrpcStatus(const grpc::Status& status) {
  return FromGrpcStatus(status).ToString();
}

}  // namespace latentsearch::rpc
