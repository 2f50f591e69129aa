// The torch-free checks of weights archives (common/model/weights_archive.h)
// on arbitrary bytes: the zip central directory and the pickle program,
// which run on a client's pushed weights before LibTorch reads them. Links
// no LibTorch, so it runs many times faster than model_weights_fuzzer and
// builds with LS_WITH_TORCH=OFF.
//
// Input: as model_weights_fuzzer's (its first byte picks a model there and
// is skipped here), so that fuzzer's seeds and corpus serve this one too.
// Properties: nothing crashes, allocates what the input declares, or reads
// outside the input (ASan); every refusal is DATA_LOSS; an accepted
// directory's records lie inside the input; an accepted archive's pickle
// record exists and passes CheckPickle.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/weights_archive.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace latentsearch;
using latentsearch::fuzz::Violation;

void MustBeDataLoss(const absl::Status& s, const char* what) {
  if (!s.ok() && s.code() != absl::StatusCode::kDataLoss) {
    Violation(absl::StrCat(what, ": unexpected ", s.ToString()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  absl::StatusOr<model::ArchiveDirectory> dir = model::ReadArchiveDirectory(bytes);
  MustBeDataLoss(dir.status(), "ReadArchiveDirectory");
  if (dir.ok()) {
    for (const auto& [name, span] : dir->records) {
      if (span.offset > bytes.size() || span.size > bytes.size() - span.offset) {
        Violation(absl::StrCat("record '", name, "' accepted outside the input"));
      }
    }
    if (!dir->records.empty() && dir->records.count(dir->first) == 0) {
      Violation("the first record is not among the records");
    }
  }

  // The pickle check alone, on the whole input as a program.
  MustBeDataLoss(model::CheckPickle(bytes), "CheckPickle");

  const absl::Status archive = model::CheckWeightsArchive(bytes);
  MustBeDataLoss(archive, "CheckWeightsArchive");
  if (archive.ok() && !dir.ok()) Violation("an archive passed whose directory was refused");
  return 0;
}
