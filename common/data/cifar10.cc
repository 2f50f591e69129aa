#include "common/data/cifar10.h"

#include <map>
#include <memory>
#include <new>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/file.h"
#include "common/base/md5.h"
#include "common/data/file_util.h"
#include "common/data/parallel.h"

namespace latentsearch::data {
namespace {

constexpr size_t kPlane = kCifar10Height * kCifar10Width;  // 1,024
constexpr size_t kImageBytes = kPlane * kCifar10Channels;  // 3,072
static_assert(kCifar10RecordBytes == kImageBytes + 1);

// Converts `count` records (count × 3,073 bytes: label, R plane, G plane, B
// plane) into HWC pixels (count × 3,072 bytes) and labels (count). DATA_LOSS
// naming `path`, the record and its byte offset for a label outside 0–9.
absl::Status ConvertRecords(const std::string& path, const uint8_t* records, size_t count,
                            uint8_t* pixels, int32_t* labels) {
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* rec = records + i * kCifar10RecordBytes;
    if (rec[0] >= kCifar10NumClasses) {
      return absl::DataLossError(absl::StrCat("'", path, "': record ", i, " at byte offset ",
                                              i * kCifar10RecordBytes, " has label ", rec[0],
                                              "; expected a label in 0..", kCifar10NumClasses - 1));
    }
    labels[i] = rec[0];
    const uint8_t* r = rec + 1;
    const uint8_t* g = r + kPlane;
    const uint8_t* b = g + kPlane;
    uint8_t* out = pixels + i * kImageBytes;
    for (size_t p = 0; p < kPlane; ++p) {
      out[3 * p] = r[p];
      out[3 * p + 1] = g[p];
      out[3 * p + 2] = b[p];
    }
  }
  return absl::OkStatus();
}

// Number of records in `path`, from its size.
absl::StatusOr<size_t> CountRecords(const std::string& path) {
  absl::StatusOr<uint64_t> size = base::FileSize(path);
  if (!size.ok()) {
    if (absl::IsNotFound(size.status())) {
      return absl::NotFoundError(
          absl::StrCat("CIFAR-10 file '", path,
                       "' does not exist; expected the binary "
                       "version's data_batch_1.bin ... data_batch_5.bin and test_batch.bin"));
    }
    return size.status();
  }
  if (*size == 0) {
    return absl::DataLossError(absl::StrCat("'", path, "': file is empty; expected records of ",
                                            kCifar10RecordBytes, " bytes"));
  }
  if (*size % kCifar10RecordBytes != 0) {
    const uint64_t whole = *size / kCifar10RecordBytes;
    return absl::DataLossError(absl::StrCat(
        "'", path, "': ", *size, " bytes is not a multiple of the ", kCifar10RecordBytes,
        "-byte record (truncated record ", whole, " at byte offset ", whole * kCifar10RecordBytes,
        " has ", *size % kCifar10RecordBytes, " of ", kCifar10RecordBytes, " bytes)"));
  }
  return static_cast<size_t>(*size / kCifar10RecordBytes);
}

absl::StatusOr<std::vector<std::string>> ReadClassNames(const std::string& dir) {
  const std::string path = base::JoinPath(dir, "batches.meta.txt");
  if (!internal::PathExists(path)) return Cifar10DefaultClassNames();
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) return text.status();
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    names.emplace_back(absl::StripAsciiWhitespace(line));
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) {
      return absl::DataLossError(absl::StrCat("'", path, "': line ", i + 1, " is empty; expected ",
                                              kCifar10NumClasses, " class names, one per line"));
    }
  }
  if (names.size() != static_cast<size_t>(kCifar10NumClasses)) {
    return absl::DataLossError(absl::StrCat("'", path, "': holds ", names.size(),
                                            " class names; expected ", kCifar10NumClasses,
                                            ", one per line"));
  }
  return names;
}

bool IsHex32(absl::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Checks `files` of `dir` against `dir`/MD5SUMS.
absl::Status VerifyFiles(const std::string& dir, const std::vector<std::string>& files,
                         int num_threads) {
  const std::string sums_path = base::JoinPath(dir, "MD5SUMS");
  absl::StatusOr<std::string> sums = base::ReadFile(sums_path);
  if (!sums.ok()) return sums.status();
  std::map<std::string, std::string, std::less<>> expected;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*sums, '\n')) {
    ++line_no;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty()) continue;
    // md5sum writes "<hex><space><space or '*'><name>".
    if (line.size() < 35 || !IsHex32(line.substr(0, 32)) || line[32] != ' ' ||
        (line[33] != ' ' && line[33] != '*')) {
      return absl::DataLossError(absl::StrCat("'", sums_path, "': line ", line_no, " is '",
                                              line.substr(0, 80),
                                              "'; expected '<32 hex digits>  <file name>'"));
    }
    absl::string_view name = line.substr(34);
    absl::ConsumePrefix(&name, "./");
    expected[std::string(name)] = absl::AsciiStrToLower(line.substr(0, 32));
  }
  for (const std::string& f : files) {
    if (expected.find(f) == expected.end()) {
      return absl::DataLossError(absl::StrCat("'", sums_path, "': has no entry for ", f));
    }
  }
  return internal::ParallelFor(files.size(), num_threads, [&](size_t i) -> absl::Status {
    const std::string path = base::JoinPath(dir, files[i]);
    absl::StatusOr<std::string> md5 = base::Md5FileHex(path);
    if (!md5.ok()) return md5.status();
    const std::string& want = expected.find(files[i])->second;
    if (*md5 != want) {
      return absl::DataLossError(
          absl::StrCat("'", path, "': MD5 ", *md5, " does not match ", want,
                       " listed in MD5SUMS (the file is corrupt or was replaced)"));
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<std::string> Cifar10Files(Split split) {
  std::vector<std::string> files;
  if (split != Split::kTest) {
    for (int i = 1; i <= 5; ++i) files.push_back(absl::StrCat("data_batch_", i, ".bin"));
  }
  if (split != Split::kTrain) files.push_back("test_batch.bin");
  return files;
}

std::vector<std::string> Cifar10DefaultClassNames() {
  return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

absl::StatusOr<Dataset> ReadCifar10(const std::string& dir, Split split,
                                    const Cifar10Options& options) {
  const std::vector<std::string> files = Cifar10Files(split);
  std::vector<std::string> paths;
  std::vector<size_t> first_record;  // Index of each file's first image.
  size_t total = 0;
  for (const std::string& f : files) {
    paths.push_back(base::JoinPath(dir, f));
    absl::StatusOr<size_t> count = CountRecords(paths.back());
    if (!count.ok()) return count.status();
    first_record.push_back(total);
    total += *count;
  }
  first_record.push_back(total);

  if (options.verify_checksums && internal::PathExists(base::JoinPath(dir, "MD5SUMS"))) {
    if (absl::Status s = VerifyFiles(dir, files, options.num_threads); !s.ok()) {
      return s;
    }
  }

  Dataset d;
  absl::StatusOr<std::vector<std::string>> names = ReadClassNames(dir);
  if (!names.ok()) return names.status();
  d.class_names = *std::move(names);
  d.source = absl::StrCat("cifar10:", dir, " [", SplitName(split), "]");
  d.height = kCifar10Height;
  d.width = kCifar10Width;
  d.channels = kCifar10Channels;
  d.pixels.resize(total * kImageBytes);
  d.labels.resize(total);

  absl::Status s =
      internal::ParallelFor(files.size(), options.num_threads, [&](size_t f) -> absl::Status {
        const size_t count = first_record[f + 1] - first_record[f];
        const size_t bytes = count * kCifar10RecordBytes;
        std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[bytes]);
        if (buf == nullptr) {
          return absl::ResourceExhaustedError(
              absl::StrCat("'", paths[f], "': cannot allocate ", bytes, " bytes to read it"));
        }
        if (absl::Status r = internal::ReadExactly(paths[f], buf.get(), bytes); !r.ok()) {
          return r;
        }
        return ConvertRecords(paths[f], buf.get(), count,
                              d.pixels.data() + first_record[f] * kImageBytes,
                              d.labels.data() + first_record[f]);
      });
  if (!s.ok()) return s;
  return d;
}

absl::Status VerifyCifar10Checksums(const std::string& dir, int num_threads) {
  return VerifyFiles(dir, Cifar10Files(Split::kAll), num_threads);
}

}  // namespace latentsearch::data
