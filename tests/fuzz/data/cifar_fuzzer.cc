// Reads arbitrary bytes as a CIFAR-10 binary directory (ReadCifar10 on the
// test split): test_batch.bin, plus, when the flags say so,
// batches.meta.txt and MD5SUMS (checked when verify_checksums is set).
// Nothing may crash; errors are fine, but a file whose size is a whole
// number of records with labels 0..9 must read.
//
// Input: u8 flags (bit0 meta, bit1 MD5SUMS, bit2 verify) | u32 len | meta |
//        u32 len | MD5SUMS | test_batch.bin bytes.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/data/cifar10.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using latentsearch::fuzz::Input;
using latentsearch::fuzz::ScratchDir;
using latentsearch::fuzz::Violation;
using latentsearch::fuzz::WriteScratchFile;

const std::string& CifarDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(ScratchDir() + "/cifar");
    mkdir(d->c_str(), 0700);
    return d;
  }();
  return *dir;
}

void Put(const std::string& name, bool present, const std::string& bytes) {
  const std::string path = CifarDir() + "/" + name;
  if (present) {
    WriteScratchFile(path, bytes);
  } else {
    unlink(path.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latentsearch::data;
  Input in(data, size);
  const uint8_t flags = in.U8();
  const std::string meta = in.LengthPrefixed();
  const std::string sums = in.LengthPrefixed();
  const std::string batch = in.Rest();
  Put("batches.meta.txt", flags & 1, meta);
  Put("MD5SUMS", flags & 2, sums);
  Put("test_batch.bin", true, batch);
  Cifar10Options options;
  options.verify_checksums = (flags & 4) != 0;
  options.num_threads = 1;
  absl::StatusOr<Dataset> d = ReadCifar10(CifarDir(), Split::kTest, options);
  if (d.ok()) {
    if (d->size() * kCifar10RecordBytes != batch.size() || d->pixels.size() != d->size() * 3072 ||
        d->class_names.size() != 10 || !Validate(*d).ok()) {
      Violation(absl::StrCat("ReadCifar10 accepted ", batch.size(),
                             " bytes but returned an inconsistent data set"));
    }
  } else if (d.status().code() != absl::StatusCode::kDataLoss &&
             d.status().code() != absl::StatusCode::kNotFound) {
    Violation(absl::StrCat("unexpected code: ", d.status().ToString()));
  }
  return 0;
}
