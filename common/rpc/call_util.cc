#include "common/rpc/call_util.h"

#include "absl/time/clock.h"

namespace latentsearch::rpc {

absl::Time DeadlineOf(const grpc::CallbackServerContext& ctx) {
  const absl::Time d = absl::FromChrono(ctx.deadline());
  // gRPC's "no deadline" is gpr_inf_future, far beyond any real one.
  return d > absl::Now() + absl::Hours(24 * 365) ? absl::InfiniteFuture() : d;
}

}  // namespace latentsearch::rpc
