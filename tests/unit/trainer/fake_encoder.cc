#include "tests/unit/trainer/fake_encoder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_proto.h"
#include "services/trainer/trainer_core.h"

namespace latentsearch::trainer::testing {
namespace {

class PushReader final : public grpc::ServerReadReactor<v1::CheckpointChunk> {
 public:
  PushReader(FakeEncoder* encoder, v1::PushCheckpointResponse* response)
      : encoder_(encoder), response_(response) {
    StartRead(&chunk_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return End();
    if (chunk_.has_metadata()) {
      if (have_metadata_) return Fail(grpc::INVALID_ARGUMENT, "second metadata message");
      have_metadata_ = true;
      r_.metadata = chunk_.metadata();
    } else {
      if (!have_metadata_) return Fail(grpc::INVALID_ARGUMENT, "data before metadata");
      const std::string& d = chunk_.data();
      if (d.size() > (1u << 20)) return Fail(grpc::INVALID_ARGUMENT, "chunk over 1 MiB");
      weights_ += d;
      ++r_.chunks;
      r_.largest_chunk = std::max(r_.largest_chunk, d.size());
      if (weights_.size() > r_.metadata.size_bytes()) {
        return Fail(grpc::DATA_LOSS, "more bytes than announced");
      }
    }
    StartRead(&chunk_);
  }
  void OnDone() override { delete this; }

 private:
  void End() {
    if (!have_metadata_) return Fail(grpc::INVALID_ARGUMENT, "empty stream");
    r_.bytes = weights_.size();
    r_.sha256 = model::Sha256Hex(weights_);
    if (r_.bytes != r_.metadata.size_bytes()) {
      return Fail(grpc::DATA_LOSS, absl::StrCat("truncated: ", r_.bytes, " of ",
                                                r_.metadata.size_bytes(), " bytes"));
    }
    if (r_.sha256 != r_.metadata.sha256()) return Fail(grpc::DATA_LOSS, "SHA-256 mismatch");
    model::Checkpoint c{model::CheckpointMetadataFromProto(r_.metadata), std::move(weights_)};
    absl::StatusOr<std::unique_ptr<model::Model>> m = model::LoadModel(c);
    if (!m.ok()) return Fail(grpc::INVALID_ARGUMENT, std::string(m.status().message()));
    *response_->mutable_model() = r_.metadata.model();
    encoder_->Accept(std::move(r_));
    Finish(grpc::Status::OK);
  }
  void Fail(grpc::StatusCode code, const std::string& why) {
    encoder_->Refuse(why);
    Finish(grpc::Status(code, why));
  }

  FakeEncoder* const encoder_;
  v1::PushCheckpointResponse* const response_;
  v1::CheckpointChunk chunk_;
  bool have_metadata_ = false;
  std::string weights_;
  FakeEncoder::Received r_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FakeEncoder>> FakeEncoder::Start() {
  std::unique_ptr<FakeEncoder> e(new FakeEncoder());
  rpc::ServerOptions options;
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<rpc::Server>> s = rpc::Server::Start(options, {e.get()});
  if (!s.ok()) return s.status();
  e->server_ = *std::move(s);
  return e;
}

FakeEncoder::~FakeEncoder() {
  if (server_) server_->Shutdown(absl::ZeroDuration());
}

grpc::ServerReadReactor<v1::CheckpointChunk>* FakeEncoder::PushCheckpoint(
    grpc::CallbackServerContext*, v1::PushCheckpointResponse* response) {
  return new PushReader(this, response);
}

void FakeEncoder::Accept(Received r) {
  absl::MutexLock lock(&mu_);
  received_.push_back(std::move(r));
}

void FakeEncoder::Refuse(std::string why) {
  absl::MutexLock lock(&mu_);
  refused_.push_back(std::move(why));
}

std::vector<FakeEncoder::Received> FakeEncoder::received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

std::vector<std::string> FakeEncoder::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

bool FakeEncoder::WaitForAccepted(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return received_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

}  // namespace latentsearch::trainer::testing
