// Conversions between model::CheckpointMetadata (the checkpoint file's
// metadata) and v1::CheckpointMetadata (the wire form in trainer.proto /
// encoder.proto). Shared by the trainer (ListCheckpoints, pushes) and the
// encoder (PushCheckpoint, ListModels). No LibTorch, no gRPC: protobuf
// messages only.
//
// Proto zero values mean the documented defaults: an empty model name is
// "default", a zero normalization scale is 1/255, an empty objective is
// "reconstruction".
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_MODEL_CHECKPOINT_PROTO_H_
#define LATENTSEARCH_COMMON_MODEL_CHECKPOINT_PROTO_H_

#include "absl/time/time.h"
#include "common/model/checkpoint.h"
#include "google/protobuf/timestamp.pb.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::model {

v1::CheckpointMetadata CheckpointMetadataToProto(const CheckpointMetadata& m);
CheckpointMetadata CheckpointMetadataFromProto(const v1::CheckpointMetadata& p);

// absl::Time <-> google.protobuf.Timestamp (nanosecond precision; times
// before 1970 keep 0 <= nanos < 1e9 as the Timestamp spec requires).
void TimeToProto(absl::Time t, google::protobuf::Timestamp* out);
absl::Time TimeFromProto(const google::protobuf::Timestamp& ts);

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_CHECKPOINT_PROTO_H_
