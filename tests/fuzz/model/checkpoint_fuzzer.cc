// The checkpoint file reader (common/model/checkpoint.h) on arbitrary
// bytes: header, metadata text and weights verification, from memory
// (DecodeCheckpoint) and from a file (ReadCheckpointFile,
// ReadCheckpointMetadata: the header-only path CheckpointStore::List uses).
// The weights' contents (a LibTorch archive) are fuzzed by
// model_weights_fuzzer.
//
// Input: u8 flags | body.
//   bit0 clear: body is the file as is.
//   bit0 set:   body is u32 len | metadata text | weights; the harness
//               builds a valid header (lengths, header SHA-256) around it,
//               so the metadata parser is reached. bit1 also appends the
//               weights' true sha256 and size_bytes lines (later keys win),
//               so a full read can succeed.
// Nothing may crash; damage is DATA_LOSS; what reads must re-encode to a
// file that reads back to the same metadata.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/base/little_endian.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_proto.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace latentsearch;
using latentsearch::fuzz::Input;
using latentsearch::fuzz::MemFile;
using latentsearch::fuzz::Violation;

// The file format of checkpoint.h around `metadata` and `weights`.
std::string Frame(const std::string& metadata, const std::string& weights) {
  std::string out("\x89LSCKPT\n", 8);
  base::AppendLittleEndian<uint32_t>(1, &out);  // format version
  base::AppendLittleEndian<uint32_t>(0, &out);  // flags
  base::AppendLittleEndian<uint64_t>(metadata.size(), &out);
  base::AppendLittleEndian<uint64_t>(weights.size(), &out);
  out += model::RawSha256(out, metadata);
  out += metadata;
  out += weights;
  return out;
}

void MustBeDataLoss(const absl::Status& s, const char* what) {
  if (!s.ok() && s.code() != absl::StatusCode::kDataLoss) {
    Violation(absl::StrCat(what, ": unexpected ", s.ToString()));
  }
}

bool SameDouble(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void CheckRoundTrip(const model::Checkpoint& c) {
  absl::StatusOr<std::string> bytes = model::EncodeCheckpoint(c);
  if (!bytes.ok())
    Violation("a checkpoint that read cannot be written: " + bytes.status().ToString());
  absl::StatusOr<model::Checkpoint> back = model::DecodeCheckpoint(*bytes, "roundtrip");
  if (!back.ok()) Violation("a re-encoded checkpoint does not read: " + back.status().ToString());
  const model::CheckpointMetadata& a = c.metadata;
  const model::CheckpointMetadata& b = back->metadata;
  if (a.model_name != b.model_name || a.version != b.version || a.architecture != b.architecture ||
      a.latent_size != b.latent_size || a.input_shape != b.input_shape || a.dataset != b.dataset ||
      a.objective != b.objective || a.epoch != b.epoch || a.step != b.step ||
      !SameDouble(a.train_loss, b.train_loss) ||
      !SameDouble(a.validation_loss, b.validation_loss) || a.created_at != b.created_at ||
      a.sha256 != b.sha256 || a.size_bytes != b.size_bytes || a.job_id != b.job_id ||
      a.normalization.mean.size() != b.normalization.mean.size() ||
      a.normalization.std.size() != b.normalization.std.size()) {
    Violation("metadata changes across write + read");
  }
  // The wire form (trainer ListCheckpoints, pushes) must not crash either.
  v1::CheckpointMetadata proto = model::CheckpointMetadataToProto(a);
  (void)model::CheckpointMetadataFromProto(proto);
  (void)model::ValidateSpec(a.spec());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t flags = in.U8();
  std::string file;
  if (flags & 1) {
    std::string metadata = in.LengthPrefixed();
    const std::string weights = in.Rest();
    if (flags & 2) {
      absl::StrAppend(&metadata, "\nsha256=", model::Sha256Hex(weights),
                      "\nsize_bytes=", weights.size(), "\n");
    }
    file = Frame(metadata, weights);
  } else {
    file = in.Rest();
  }

  absl::StatusOr<model::Checkpoint> c = model::DecodeCheckpoint(file, "fuzz");
  MustBeDataLoss(c.status(), "DecodeCheckpoint");
  if (c.ok()) CheckRoundTrip(*c);

  MemFile mem("checkpoint", file);
  absl::StatusOr<model::CheckpointMetadata> m = model::ReadCheckpointMetadata(mem.path());
  MustBeDataLoss(m.status(), "ReadCheckpointMetadata");
  absl::StatusOr<model::Checkpoint> f = model::ReadCheckpointFile(mem.path());
  MustBeDataLoss(f.status(), "ReadCheckpointFile");
  if (f.ok() != c.ok()) Violation("ReadCheckpointFile and DecodeCheckpoint disagree");
  // A full read implies the header-only read.
  if (c.ok() && !m.ok()) Violation("the full read succeeds but the metadata read fails");
  return 0;
}
