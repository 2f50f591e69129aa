// passthrough_proxy: the smallest gRPC proxy there is, for the cluster
// benchmark's router-overhead floor (docs/benchmarks.md, "Router overhead").
// Every call, whatever its method, is forwarded as opaque bytes to
// --upstream through gRPC's generic callback API and its answer returned:
// no parsing, no routing, no metrics. What it adds to a call's latency is
// what any out-of-process hop adds on this machine (two more socket legs,
// two more wake-ups, gRPC's own per-call work), which the latentsearch
// router cannot go below.
//
// Usage: passthrough_proxy --listen=127.0.0.1:PORT --upstream=HOST:PORT
// It logs "listening on ADDRESS" on stderr once serving (what
// testing::Subprocess waits for) and stops on SIGTERM/SIGKILL.
// Thread-safety: each call's reactor is driven by gRPC, one event at a time.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/byte_buffer.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Address to serve on (loopback).");
ABSL_FLAG(std::string, upstream, "", "Address every call is forwarded to.");

namespace {

class Forwarder final : public grpc::CallbackGenericService {
 public:
  explicit Forwarder(const std::string& upstream)
      : stub_(grpc::CreateChannel(upstream, grpc::InsecureChannelCredentials())) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new Call(&stub_, ctx);
  }

 private:
  // One unary call: read the request, forward it, write the answer.
  class Call final : public grpc::ServerGenericBidiReactor {
   public:
    Call(grpc::GenericStub* stub, grpc::GenericCallbackServerContext* ctx)
        : stub_(stub), ctx_(ctx) {
      StartRead(&request_);
    }

    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request message"));
        return;
      }
      upstream_ctx_.set_deadline(ctx_->deadline());
      stub_->UnaryCall(&upstream_ctx_, ctx_->method(), grpc::StubOptions(), &request_, &response_,
                       [this](grpc::Status status) {
                         if (!status.ok()) {
                           Finish(status);
                           return;
                         }
                         StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
                       });
    }

    void OnDone() override { delete this; }

   private:
    grpc::GenericStub* const stub_;
    grpc::GenericCallbackServerContext* const ctx_;
    grpc::ClientContext upstream_ctx_;
    grpc::ByteBuffer request_, response_;
  };

  grpc::GenericStub stub_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string upstream = absl::GetFlag(FLAGS_upstream);
  if (upstream.empty()) {
    std::fprintf(stderr, "passthrough_proxy: --upstream is required\n");
    return 2;
  }
  Forwarder forwarder(upstream);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(&forwarder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "passthrough_proxy: cannot listen on %s\n",
                 absl::GetFlag(FLAGS_listen).c_str());
    return 1;
  }
  const std::string listen = absl::GetFlag(FLAGS_listen);
  std::fprintf(stderr, "passthrough_proxy: listening on %s:%d\n",
               listen.substr(0, listen.rfind(':')).c_str(), port);
  std::fflush(stderr);
  server->Wait();
  return 0;
}
