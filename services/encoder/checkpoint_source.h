// Where an encoder pulls the model versions it lacks from: the trainer's
// checkpoint store (ListCheckpoints / DownloadCheckpoint), behind an
// interface so that VersionSync (version_sync.h) needs no gRPC and tests
// can hand it checkpoints directly. grpc_checkpoint_source.h holds the gRPC
// implementation.
// Thread-safety: implementations must be thread-safe.
#ifndef LATENTSEARCH_SERVICES_ENCODER_CHECKPOINT_SOURCE_H_
#define LATENTSEARCH_SERVICES_ENCODER_CHECKPOINT_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/model/checkpoint.h"

namespace latentsearch::encoder {

class CheckpointSource {
 public:
  virtual ~CheckpointSource() = default;

  // Names the source in messages (e.g. "trainer 10.0.0.9:50051").
  virtual std::string Describe() const = 0;

  // Metadata of every stored checkpoint, any order. UNAVAILABLE when the
  // source cannot be reached; DEADLINE_EXCEEDED past `deadline`.
  virtual absl::StatusOr<std::vector<model::CheckpointMetadata>> List(absl::Time deadline) = 0;

  // One checkpoint with its weights, verified against its size and
  // SHA-256 (DATA_LOSS otherwise). NOT_FOUND when the source no longer
  // holds it; errors as List.
  virtual absl::StatusOr<model::Checkpoint> Fetch(const std::string& name, uint64_t version,
                                                  absl::Time deadline) = 0;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_CHECKPOINT_SOURCE_H_
