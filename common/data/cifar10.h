// Reader for the CIFAR-10 *binary version*: a directory holding
// data_batch_1.bin … data_batch_5.bin (training), test_batch.bin (test),
// batches.meta.txt (class names) and optionally MD5SUMS.
//
// Each .bin file is a sequence of 3,073-byte records: one label byte (0–9),
// then 1,024 red, 1,024 green and 1,024 blue bytes, each plane 32×32
// row-major. The reader converts the planes to HWC. Files are read whole and
// converted in parallel (one file per thread); all 60,000 images take a few
// hundred milliseconds on two cores.
//
// Errors: a missing .bin file is NOT_FOUND; an empty file, a size that is not
// a whole number of records (the truncated record and its byte offset are
// named), a label outside 0–9 (record and offset named), a malformed
// batches.meta.txt or MD5SUMS, and a checksum mismatch are DATA_LOSS. Every
// message names the file.
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_DATA_CIFAR10_H_
#define LATENTSEARCH_COMMON_DATA_CIFAR10_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace latentsearch::data {

inline constexpr int kCifar10Height = 32;
inline constexpr int kCifar10Width = 32;
inline constexpr int kCifar10Channels = 3;
inline constexpr int kCifar10NumClasses = 10;
// 1 label byte + 3 × 32 × 32 pixel bytes.
inline constexpr size_t kCifar10RecordBytes = 3073;

// How ReadCifar10 reads. A value type.
struct Cifar10Options {
  // Check the files of the split against MD5SUMS before parsing them. When
  // the directory has no MD5SUMS there is nothing to check and reading goes
  // ahead. Default false: hashing costs about as much as reading.
  bool verify_checksums = false;
  // Threads reading and converting files; 0 = the hardware concurrency.
  int num_threads = 0;
};

// The file names of `split`, in reading order: data_batch_1.bin …
// data_batch_5.bin for kTrain, test_batch.bin for kTest, both for kAll.
std::vector<std::string> Cifar10Files(Split split);

// The standard class names, airplane … truck.
std::vector<std::string> Cifar10DefaultClassNames();

// Reads `split` of the CIFAR-10 directory `dir` into one 32×32×3 Dataset
// (records in file order, files in Cifar10Files() order). Class names come
// from batches.meta.txt (exactly 10 non-empty lines; trailing blank lines are
// ignored); without that file the standard names are used. uris stay empty.
absl::StatusOr<Dataset> ReadCifar10(const std::string& dir, Split split,
                                    const Cifar10Options& options = {});

// Checks every file of Split::kAll against `dir`/MD5SUMS (lines of "<32 hex
// digits>  <file name>", as md5sum writes them). NOT_FOUND when MD5SUMS or a
// data file is missing; DATA_LOSS naming the file on a mismatch, for a
// malformed MD5SUMS line, or when MD5SUMS has no entry for a data file.
absl::Status VerifyCifar10Checksums(const std::string& dir, int num_threads = 0);

}  // namespace latentsearch::data

#endif  // LATENTSEARCH_COMMON_DATA_CIFAR10_H_
