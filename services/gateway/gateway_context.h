// What every route handler reaches: the backends, thumbnails, evaluation
// jobs, auth, metrics and limits, plus the registry of open server streams
// (cancelled on shutdown so the HTTP threads can finish).
// Thread-safety: GatewayContext's members are thread-safe; StreamRegistry
// is thread-safe.
#ifndef LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_CONTEXT_H_
#define LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_CONTEXT_H_

#include <cstddef>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"
#include "services/gateway/auth.h"
#include "services/gateway/backends.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/thumbnails.h"

namespace latentsearch::gateway {

class EvalJobs;

// Server streams (SSE, downloads) in flight; Cancel() ends them all.
class StreamRegistry {
 public:
  // False (and the context is cancelled) once Cancel() has run.
  bool Add(grpc::ClientContext* context) {
    absl::MutexLock l(&mu_);
    if (cancelled_) {
      context->TryCancel();
      return false;
    }
    open_.insert(context);
    return true;
  }
  void Remove(grpc::ClientContext* context) {
    absl::MutexLock l(&mu_);
    open_.erase(context);
  }
  void Cancel() {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
    for (grpc::ClientContext* c : open_) c->TryCancel();
  }

 private:
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> open_ ABSL_GUARDED_BY(mu_);
};

struct GatewayContext {
  Backends* backends = nullptr;
  Thumbnailer* thumbnails = nullptr;
  EvalJobs* evals = nullptr;
  const HttpAuth* auth = nullptr;
  GatewayMetrics* metrics = nullptr;  // may be null
  StreamRegistry* streams = nullptr;
  // Largest request body, bytes (--max_upload_bytes).
  size_t max_upload_bytes = 4 << 20;
  // The console's static files (index.html, ...); "" = no console.
  std::string console_dir;
};

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_CONTEXT_H_
