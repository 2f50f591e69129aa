// Checkpoints: a model's weights plus the metadata needed to load them
// without knowing the architecture in advance, in one self-checking file,
// and a versioned store of them.
//
// File format (version 1; integers little-endian):
//   offset  size  field
//        0     8  magic "\x89LSCKPT\n"
//        8     4  format version (1)
//       12     4  flags (0)
//       16     8  M = metadata length in bytes (at most 1 MiB)
//       24     8  W = weights length in bytes
//       32    32  SHA-256 of bytes [0, 32) followed by the metadata
//       64     M  metadata: UTF-8 "key=value\n" lines, values C-escaped
//                 (keys as CheckpointMetadata's fields; unknown keys are
//                 ignored so later writers can add fields)
//     64+M     W  weights: torch::pickle_save of a {name: tensor} dictionary
//                 (Python reads it with torch.load); their SHA-256 (hex) and
//                 size are in the metadata
// The file is exactly 64 + M + W bytes. Readers verify the magic, the
// version, the lengths, the header checksum and (for a full read) the
// weights' size and SHA-256; any mismatch is DATA_LOSS naming the file.
//
// The weights blob is what CheckpointChunk.data carries over gRPC; the
// metadata travels as a CheckpointMetadata message.
//
// Thread-safety: free functions are thread-safe; CheckpointStore is
// thread-safe (Add is serialised; reads run concurrently).
#ifndef LATENTSEARCH_COMMON_MODEL_CHECKPOINT_H_
#define LATENTSEARCH_COMMON_MODEL_CHECKPOINT_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/image/preprocess.h"
#include "common/model/model.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace latentsearch::model {

// x = (pixel * scale - mean[c]) / std[c]; empty mean/std = 0/1. One type
// with the encoder's preprocessing (common/image/preprocess.h).
using Normalization = image::Normalization;

struct CheckpointMetadata {
  std::string model_name = "default";
  uint64_t version = 0;  // Assigned by CheckpointStore::Add.
  std::string architecture;
  int latent_size = 0;
  InputShape input_shape;
  Normalization normalization;
  std::string dataset;  // e.g. "cifar10:/data/cifar10 [train]".
  std::string objective = "reconstruction";
  uint32_t epoch = 0;  // Epochs completed.
  uint64_t step = 0;   // Optimiser steps taken.
  double train_loss = std::numeric_limits<double>::quiet_NaN();
  double validation_loss = std::numeric_limits<double>::quiet_NaN();
  absl::Time created_at = absl::UnixEpoch();
  std::string sha256;       // Lower-case hex SHA-256 of the weights.
  uint64_t size_bytes = 0;  // Size of the weights.
  std::string job_id;
  uint64_t encoder_parameters = 0;
  uint64_t decoder_parameters = 0;

  // The model spec this checkpoint loads into.
  ModelSpec spec() const { return {architecture, latent_size, input_shape}; }
};

struct Checkpoint {
  CheckpointMetadata metadata;
  std::string weights;
};

// Lower-case hex SHA-256 (OpenSSL EVP).
std::string Sha256Hex(absl::string_view bytes);

// The 32-byte SHA-256 of `a` followed by `b`: the header checksum of the
// file format above (a = header bytes [0, 32), b = the metadata).
std::string RawSha256(absl::string_view a, absl::string_view b);

// Incremental SHA-256, for receivers that hash chunks as they arrive.
// Thread-safety: one thread at a time.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(absl::string_view bytes);
  // Lower-case hex; the object must not be used afterwards.
  std::string HexDigest();

 private:
  EVP_MD_CTX* ctx_;
};

// A checkpoint of `weights` with sha256 and size_bytes filled in.
Checkpoint MakeCheckpoint(CheckpointMetadata metadata, std::string weights);

// DATA_LOSS (naming `source`) when `weights` do not match metadata's
// size_bytes and sha256.
absl::Status VerifyWeights(const CheckpointMetadata& metadata, absl::string_view weights,
                           absl::string_view source);

// The file bytes of `checkpoint` (format above). INVALID_ARGUMENT when its
// weights do not match its size/sha256 (use MakeCheckpoint).
absl::StatusOr<std::string> EncodeCheckpoint(const Checkpoint& checkpoint);
// Parses and fully verifies file bytes. DATA_LOSS naming `source`.
absl::StatusOr<Checkpoint> DecodeCheckpoint(absl::string_view bytes, absl::string_view source);

// Atomic write (temp file, fsync, rename, fsync dir) of EncodeCheckpoint.
absl::Status WriteCheckpointFile(const std::string& path, const Checkpoint& checkpoint);
// Reads and verifies the whole file. NOT_FOUND if missing, DATA_LOSS
// naming the file if corrupt or truncated.
absl::StatusOr<Checkpoint> ReadCheckpointFile(const std::string& path);
// Reads only the header and metadata (verifying the header checksum and the
// file's length, not the weights' hash). Errors as ReadCheckpointFile.
absl::StatusOr<CheckpointMetadata> ReadCheckpointMetadata(const std::string& path);

// Builds the architecture the metadata names and loads the weights.
// INVALID_ARGUMENT for an unknown architecture or weights that do not fit
// it; DATA_LOSS when the weights do not match their checksum.
absl::StatusOr<std::unique_ptr<Model>> LoadModel(const Checkpoint& checkpoint,
                                                 const ModelOptions& options = {});

// 1..128 characters of [A-Za-z0-9_.-], not "." or "..". INVALID_ARGUMENT.
absl::Status ValidateModelName(absl::string_view name);

// Versioned checkpoints per model name under a root directory:
//   <root>/<name>/v000001.ckpt, v000002.ckpt, ...
// Versions increase from 1 per name. Files are published atomically, so a
// writer killed at any point leaves only complete checkpoints (plus, at
// worst, a "*.ckpt.tmp.*" file that readers ignore and Open() removes).
// One writing process per root (versions are assigned from the directory
// listing under an in-process lock).
class CheckpointStore {
 public:
  // Creates `root` if needed and removes temp files a killed writer left.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(const std::string& root);

  // Stores `checkpoint` as the next version of metadata.model_name ("" =
  // "default"), filling in model_name and version; returns the metadata as
  // stored. INVALID_ARGUMENT for a bad name or weights not matching their
  // sha256/size_bytes.
  absl::StatusOr<CheckpointMetadata> Add(Checkpoint checkpoint);

  // Metadata of the stored checkpoints, newest first; `name` "" = every
  // name (names in order, each newest first). Files that cannot be read are
  // left out (Get reports them).
  absl::StatusOr<std::vector<CheckpointMetadata>> List(const std::string& name = "") const;

  // One checkpoint, fully verified; version 0 = the newest. NOT_FOUND for an
  // unknown name or version, DATA_LOSS naming the file when it is corrupt.
  absl::StatusOr<Checkpoint> Get(const std::string& name, uint64_t version) const;

  // Version numbers present for `name`, ascending (empty if none).
  std::vector<uint64_t> Versions(const std::string& name) const;

  std::string PathFor(const std::string& name, uint64_t version) const;
  const std::string& root() const { return root_; }

 private:
  explicit CheckpointStore(std::string root) : root_(std::move(root)) {}
  const std::string root_;
  absl::Mutex add_mu_;
};

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_CHECKPOINT_H_
