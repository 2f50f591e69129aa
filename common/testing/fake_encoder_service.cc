// FakeEncoderService: Encode / ListModels answers and the PushCheckpoint
// stream reader with the real encoder's stream checks.
#include "common/testing/fake_encoder_service.h"

#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace latentsearch::testing {
namespace {

std::string Sha256Hex(absl::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), static_cast<size_t>(len)));
}

// The default embedding: the first pixel value repeated `dim` times.
std::vector<float> FirstPixel(const image::Image& image, int dim) {
  const float v = image.pixels.empty() ? 0.f : static_cast<float>(image.pixels[0]);
  return std::vector<float>(static_cast<size_t>(dim), v);
}

absl::StatusOr<image::Image> ToImage(const v1::Image& image) {
  if (!image.has_raw()) return image::Decode(image.encoded());
  const v1::RawImage& raw = image.raw();
  image::Image out;
  out.height = raw.height();
  out.width = raw.width();
  out.channels = raw.channels();
  out.pixels.assign(raw.pixels().begin(), raw.pixels().end());
  return out;
}

class PushReader final : public grpc::ServerReadReactor<v1::CheckpointChunk> {
 public:
  PushReader(FakeEncoderService* encoder, v1::PushCheckpointResponse* response)
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
    r_.sha256 = Sha256Hex(weights_);
    if (r_.bytes != r_.metadata.size_bytes()) {
      return Fail(grpc::DATA_LOSS, absl::StrCat("truncated: ", r_.bytes, " of ",
                                                r_.metadata.size_bytes(), " bytes"));
    }
    if (r_.sha256 != r_.metadata.sha256()) return Fail(grpc::DATA_LOSS, "SHA-256 mismatch");
    if (encoder_->checkpoint_check()) {
      absl::Status s = encoder_->checkpoint_check()(r_.metadata, weights_);
      if (!s.ok()) return Fail(grpc::INVALID_ARGUMENT, std::string(s.message()));
    }
    *response_->mutable_model() = r_.metadata.model();
    encoder_->Accept(std::move(r_));
    Finish(grpc::Status::OK);
  }
  void Fail(grpc::StatusCode code, const std::string& why) {
    encoder_->Refuse(why);
    Finish(grpc::Status(code, why));
  }

  FakeEncoderService* const encoder_;
  v1::PushCheckpointResponse* const response_;
  v1::CheckpointChunk chunk_;
  bool have_metadata_ = false;
  std::string weights_;
  FakeEncoderService::Received r_;
};

// An Encode call held until FakeEncoderService::ReleaseEncodes finishes it,
// or cancelled first (then it finishes CANCELLED here).
class HeldEncode final : public grpc::ServerUnaryReactor {
 public:
  explicit HeldEncode(FakeEncoderService* encoder) : encoder_(encoder) {}
  void OnCancel() override {
    if (encoder_->DropCancelledEncode(this)) {
      Finish(grpc::Status(grpc::CANCELLED, "the held Encode call was cancelled"));
    }
  }
  void OnDone() override { delete this; }

 private:
  FakeEncoderService* const encoder_;
};

}  // namespace

FakeEncoderService::FakeEncoderService(Options options)
    : options_(std::move(options)), version_(options_.version) {}

absl::StatusOr<std::unique_ptr<FakeEncoderService>> FakeEncoderService::Start(Options options) {
  std::unique_ptr<FakeEncoderService> e(new FakeEncoderService(std::move(options)));
  absl::Status s = e->Serve();
  if (!s.ok()) return s;
  return e;
}

absl::Status FakeEncoderService::Serve() {
  rpc::ServerOptions options;
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<rpc::Server>> s = rpc::Server::Start(options, {this});
  if (!s.ok()) return s.status();
  server_ = *std::move(s);
  return absl::OkStatus();
}

FakeEncoderService::~FakeEncoderService() { Shutdown(); }

void FakeEncoderService::Shutdown() {
  if (server_) server_->Shutdown(absl::ZeroDuration());
}

grpc::ServerUnaryReactor* FakeEncoderService::Encode(grpc::CallbackServerContext* ctx,
                                                     const v1::EncodeRequest* request,
                                                     v1::EncodeResponse* response) {
  grpc::Status answer = Answer(*request, response);
  if (options_.hold_encode) {
    auto* held = new HeldEncode(this);
    absl::MutexLock lock(&mu_);
    held_.emplace_back(held, std::move(answer));
    return held;
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(answer);
  return reactor;
}

grpc::Status FakeEncoderService::Answer(const v1::EncodeRequest& request,
                                        v1::EncodeResponse* response) {
  uint64_t version;
  {
    absl::MutexLock lock(&mu_);
    ++encode_calls_;
    last_requested_version_ = request.model().version();
    version = version_;
  }
  const uint64_t pinned = request.model().version();
  if (pinned != 0 && pinned != version) {
    return grpc::Status(grpc::NOT_FOUND, absl::StrCat("version not loaded; loaded: ", version));
  }
  for (const v1::Image& image : request.images()) {
    absl::StatusOr<image::Image> pixels = ToImage(image);
    if (!pixels.ok()) return grpc::Status(grpc::INVALID_ARGUMENT, "undecodable image");
    std::vector<float> values =
        options_.embed ? options_.embed(*pixels) : FirstPixel(*pixels, options_.dim);
    response->add_embeddings()->mutable_values()->Add(values.begin(), values.end());
  }
  response->mutable_model()->set_name(options_.model_name);
  response->mutable_model()->set_version(version);
  response->set_dim(static_cast<uint32_t>(options_.dim));
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* FakeEncoderService::ListModels(grpc::CallbackServerContext* ctx,
                                                         const v1::ListModelsRequest* request,
                                                         v1::ListModelsResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (request->name().empty() || request->name() == options_.model_name) {
    v1::ModelInfo* m = response->add_models();
    m->mutable_metadata()->mutable_model()->set_name(options_.model_name);
    {
      absl::MutexLock lock(&mu_);
      m->mutable_metadata()->mutable_model()->set_version(version_);
    }
    m->mutable_metadata()->set_latent_size(options_.dim);
    m->set_newest(true);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerReadReactor<v1::CheckpointChunk>* FakeEncoderService::PushCheckpoint(
    grpc::CallbackServerContext*, v1::PushCheckpointResponse* response) {
  return new PushReader(this, response);
}

void FakeEncoderService::set_version(uint64_t version) {
  absl::MutexLock lock(&mu_);
  version_ = version;
}

int FakeEncoderService::encode_calls() const {
  absl::MutexLock lock(&mu_);
  return encode_calls_;
}

uint64_t FakeEncoderService::last_requested_version() const {
  absl::MutexLock lock(&mu_);
  return last_requested_version_;
}

bool FakeEncoderService::WaitForHeldEncodes(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto held = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&held), timeout);
}

void FakeEncoderService::ReleaseEncodes() {
  std::vector<std::pair<grpc::ServerUnaryReactor*, grpc::Status>> held;
  {
    absl::MutexLock lock(&mu_);
    held.swap(held_);
  }
  for (auto& [reactor, answer] : held) reactor->Finish(answer);
}

bool FakeEncoderService::DropCancelledEncode(grpc::ServerUnaryReactor* held) {
  absl::MutexLock lock(&mu_);
  for (auto it = held_.begin(); it != held_.end(); ++it) {
    if (it->first != held) continue;
    held_.erase(it);
    ++cancelled_encodes_;
    return true;
  }
  return false;
}

int FakeEncoderService::cancelled_encodes() const {
  absl::MutexLock lock(&mu_);
  return cancelled_encodes_;
}

bool FakeEncoderService::WaitForCancelledEncodes(int n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return cancelled_encodes_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

void FakeEncoderService::Accept(Received r) {
  absl::MutexLock lock(&mu_);
  received_.push_back(std::move(r));
}

void FakeEncoderService::Refuse(std::string why) {
  absl::MutexLock lock(&mu_);
  refused_.push_back(std::move(why));
}

std::vector<FakeEncoderService::Received> FakeEncoderService::received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

std::vector<std::string> FakeEncoderService::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

bool FakeEncoderService::WaitForAccepted(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return received_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

}  // namespace latentsearch::testing
