// Structural checks of a weights archive (the zip file LibTorch's
// pickle_save writes: a central directory of stored records and a pickle
// program, data.pkl) made before LibTorch reads it. A pushed checkpoint's
// weights are a client's bytes; LibTorch trusts the sizes they declare and
// allocates or copies them before checking (model_weights_fuzzer found a
// buffer overrun and two 4 GiB allocations). No LibTorch here (library
// ls_weights_archive), so weights_archive_fuzzer fuzzes these checks alone.
//
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_MODEL_WEIGHTS_ARCHIVE_H_
#define LATENTSEARCH_COMMON_MODEL_WEIGHTS_ARCHIVE_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::model {

// Where a record's bytes lie in the archive.
struct RecordSpan {
  size_t offset = 0;
  size_t size = 0;
};

struct ArchiveDirectory {
  std::string first;  // the first record's name, in directory order
  std::map<std::string, RecordSpan> records;
};

// Reads and checks the zip central directory of `bytes`. LibTorch writes
// weights uncompressed (method 0), so every record must be stored, its two
// sizes equal, its local header present and its bytes inside the archive;
// names are unique. The end record is found as miniz finds it (the last
// signature within 64 KiB of the end); when a zip64 end record is present as
// well (LibTorch always writes one), the two must agree, so no reader of the
// archive sees other records. DATA_LOSS naming the damage otherwise.
absl::StatusOr<ArchiveDirectory> ReadArchiveDirectory(absl::string_view bytes);

// Checks a pickle program before LibTorch's unpickler runs it. The
// unpickler reserves what a length prefix declares before reading, and
// grows its memo table to twice a memo index (LONG_BINPUT). So: every
// opcode must be one of the pickle protocol's, every length must fit in
// what is left of the program, memo indexes may not run ahead of the values
// stored so far, and the program must end with STOP. DATA_LOSS with the
// offset and the damage otherwise.
absl::Status CheckPickle(absl::string_view program);

// Both checks: the directory, then the record "<dir>/data.pkl" where <dir>
// is the first record's directory (as PyTorchStreamReader finds it).
// DATA_LOSS when either fails or there is no such record.
absl::Status CheckWeightsArchive(absl::string_view bytes);

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_WEIGHTS_ARCHIVE_H_
