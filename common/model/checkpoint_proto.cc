#include "common/model/checkpoint_proto.h"

#include <cstdint>

namespace latentsearch::model {

void TimeToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(t);
  int64_t secs = nanos / 1000000000;
  int64_t rem = nanos % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --secs;
  }
  out->set_seconds(secs);
  out->set_nanos(static_cast<int32_t>(rem));
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

v1::CheckpointMetadata CheckpointMetadataToProto(const CheckpointMetadata& m) {
  v1::CheckpointMetadata p;
  p.mutable_model()->set_name(m.model_name);
  p.mutable_model()->set_version(m.version);
  p.set_architecture(m.architecture);
  p.set_latent_size(static_cast<uint32_t>(m.latent_size));
  p.mutable_input_shape()->set_height(m.input_shape.height);
  p.mutable_input_shape()->set_width(m.input_shape.width);
  p.mutable_input_shape()->set_channels(m.input_shape.channels);
  p.mutable_normalization()->set_scale(m.normalization.scale);
  for (float v : m.normalization.mean) p.mutable_normalization()->add_mean(v);
  for (float v : m.normalization.std) p.mutable_normalization()->add_std(v);
  p.set_dataset(m.dataset);
  p.set_objective(m.objective);
  p.set_epoch(m.epoch);
  p.set_step(m.step);
  p.set_train_loss(m.train_loss);
  p.set_validation_loss(m.validation_loss);
  TimeToProto(m.created_at, p.mutable_created_at());
  p.set_sha256(m.sha256);
  p.set_size_bytes(m.size_bytes);
  p.set_job_id(m.job_id);
  p.set_encoder_parameters(m.encoder_parameters);
  p.set_decoder_parameters(m.decoder_parameters);
  return p;
}

CheckpointMetadata CheckpointMetadataFromProto(const v1::CheckpointMetadata& p) {
  CheckpointMetadata m;
  m.model_name = p.model().name().empty() ? "default" : p.model().name();
  m.version = p.model().version();
  m.architecture = p.architecture();
  m.latent_size = static_cast<int>(p.latent_size());
  m.input_shape = {static_cast<int>(p.input_shape().height()),
                   static_cast<int>(p.input_shape().width()),
                   static_cast<int>(p.input_shape().channels())};
  if (p.normalization().scale() != 0) m.normalization.scale = p.normalization().scale();
  m.normalization.mean.assign(p.normalization().mean().begin(), p.normalization().mean().end());
  m.normalization.std.assign(p.normalization().std().begin(), p.normalization().std().end());
  m.dataset = p.dataset();
  if (!p.objective().empty()) m.objective = p.objective();
  m.epoch = p.epoch();
  m.step = p.step();
  m.train_loss = p.train_loss();
  m.validation_loss = p.validation_loss();
  m.created_at = TimeFromProto(p.created_at());
  m.sha256 = p.sha256();
  m.size_bytes = p.size_bytes();
  m.job_id = p.job_id();
  m.encoder_parameters = p.encoder_parameters();
  m.decoder_parameters = p.decoder_parameters();
  return m;
}

}  // namespace latentsearch::model
