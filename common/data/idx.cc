#include "common/data/idx.h"

#include <errno.h>
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/base/errno_status.h"
#include "common/base/file.h"
#include "common/data/file_util.h"
#include "common/data/parallel.h"

namespace latentsearch::data {
namespace {

// More data than any IDX file we could hold in memory: 2^40 bytes.
constexpr uint64_t kMaxIdxDataBytes = uint64_t{1} << 40;
constexpr size_t kChunk = size_t{4} << 20;
// Largest image side accepted from an IDX header.
constexpr uint32_t kMaxSide = 1 << 16;

// One IDX file's dimensions and unsigned-byte data.
struct IdxArray {
  std::string path;
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;  // product(dims) bytes, row-major.
};

// A gzip (or, transparently, plain) file opened for reading.
// Thread-compatible: one thread at a time.
class GzFile {
 public:
  explicit GzFile(gzFile f) : f_(f) {}
  ~GzFile() {
    if (f_ != nullptr) gzclose_r(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to `n` bytes into `buf`; stops early only at the end of the
  // data or on an error (then error() is non-empty).
  size_t Read(uint8_t* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      const unsigned want = static_cast<unsigned>(std::min<size_t>(n - got, size_t{1} << 30));
      const int r = gzread(f_, buf + got, want);
      if (r < 0) {
        int errnum = Z_OK;
        const char* msg = gzerror(f_, &errnum);
        error_ = errnum == Z_ERRNO ? base::ErrnoText(errno)
                                   : (msg != nullptr ? msg : "unknown zlib error");
        return got;
      }
      if (r == 0) {
        int errnum = Z_OK;
        const char* msg = gzerror(f_, &errnum);
        if (errnum != Z_OK && errnum != Z_STREAM_END) {
          error_ = msg != nullptr ? msg : "unknown zlib error";
        }
        return got;
      }
      got += static_cast<size_t>(r);
    }
    return got;
  }
  bool compressed() const { return gzdirect(f_) == 0; }
  const std::string& error() const { return error_; }

 private:
  gzFile f_;
  std::string error_;
};

std::string Where(bool compressed) {
  return compressed ? "decompressed byte offset" : "byte offset";
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// DATA_LOSS for `path`, naming zlib's error first when there is one (a
// corrupt stream shows up as a short read).
absl::Status CorruptOr(const GzFile& gz, const std::string& path, absl::string_view otherwise) {
  if (!gz.error().empty()) {
    return absl::DataLossError(
        absl::StrCat("'", path, "': corrupt gzip data (", gz.error(), "); ", otherwise));
  }
  return absl::DataLossError(absl::StrCat("'", path, "': ", otherwise));
}

// Reads and checks the magic number and the dimensions into out.dims;
// returns the number of data bytes they declare (at most `max_bytes`).
absl::StatusOr<uint64_t> ReadIdxHeader(GzFile& gz, const std::string& path, uint32_t magic,
                                       absl::string_view what, uint64_t max_bytes, IdxArray& out) {
  uint8_t head[4];
  size_t got = gz.Read(head, 4);
  if (got < 4) {
    return CorruptOr(
        gz, path, absl::StrCat("ends after ", got, " bytes; expected a 4-byte IDX magic number"));
  }
  const uint32_t found = BigEndian32(head);
  if (found != magic) {
    std::string hint;
    if (found == kIdxLabelsMagic) hint = " (this is an IDX labels file)";
    if (found == kIdxImagesMagic) hint = " (this is an IDX images file)";
    return absl::DataLossError(
        absl::StrFormat("'%s': magic number 0x%08x at byte offset 0%s; expected 0x%08x (IDX "
                        "unsigned bytes, %d dimensions, holding %ss)",
                        path, found, hint, magic, magic & 0xff, std::string(what)));
  }
  const size_t ndims = magic & 0xff;
  uint64_t total = 1;
  for (size_t i = 0; i < ndims; ++i) {
    uint8_t b[4];
    got = gz.Read(b, 4);
    if (got < 4) {
      return CorruptOr(
          gz, path,
          absl::StrCat("header ends at ", Where(gz.compressed()), " ", 4 + 4 * i + got,
                       "; expected ", ndims, " 4-byte dimensions after the magic number"));
    }
    const uint32_t dim = BigEndian32(b);
    if (dim == 0) {
      return absl::DataLossError(absl::StrCat("'", path, "': dimension ", i, " at byte offset ",
                                              4 + 4 * i, " is 0; expected at least 1"));
    }
    out.dims.push_back(dim);
    total *= dim;
    if (total > kMaxIdxDataBytes) {
      return absl::DataLossError(absl::StrCat("'", path, "': dimensions declare more than ",
                                              kMaxIdxDataBytes,
                                              " bytes of data; the header is corrupt"));
    }
  }
  if (total > max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("'", path, "': header declares ", total, " bytes of ", what,
                     " data; over the limit of ", max_bytes, " bytes (IdxOptions::max_bytes)"));
  }
  return total;
}

// Reads the `total` data bytes after a header of `header` bytes into
// out.data, then checks that nothing follows them (which also makes zlib
// check the gzip CRC and length).
absl::Status ReadIdxData(GzFile& gz, const std::string& path, absl::string_view what,
                         uint64_t header, uint64_t total, IdxArray& out) {
  const uint64_t item_bytes = total / out.dims[0];
  // Grow as data arrives, so a forged header cannot make us allocate more
  // than the file actually holds.
  size_t have = 0;
  while (have < total) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, total - have));
    out.data.resize(have + want);
    const size_t got = gz.Read(out.data.data() + have, want);
    have += got;
    if (got < want) break;
  }
  if (have < total) {
    const uint64_t item = have / item_bytes;
    return CorruptOr(gz, path,
                     absl::StrCat("truncated: ", what, " ", item, " of ", out.dims[0], " at ",
                                  Where(gz.compressed()), " ", header + item * item_bytes,
                                  " is incomplete (the data ends after ", header + have, " of ",
                                  header + total, " bytes)"));
  }
  uint8_t extra[4096];
  uint64_t trailing = 0;
  size_t got;
  while ((got = gz.Read(extra, sizeof(extra))) > 0) trailing += got;
  if (!gz.error().empty()) {
    return CorruptOr(
        gz, path, absl::StrCat("detected after all ", header + total, " declared bytes were read"));
  }
  if (trailing > 0) {
    return absl::DataLossError(
        absl::StrCat("'", path, "': ", trailing, " unexpected bytes after the last ", what, " at ",
                     Where(gz.compressed()), " ", header + total, "; expected exactly ",
                     header + total, " bytes for ", out.dims[0], " ", what, "s"));
  }
  return absl::OkStatus();
}

// Reads an IDX file of unsigned bytes with `magic` (whose low byte is the
// number of dimensions). `what` names one item ("image", "label").
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path, uint32_t magic,
                                     absl::string_view what, uint64_t max_bytes) {
  if (!internal::PathExists(path)) {
    return absl::NotFoundError(absl::StrCat("IDX file '", path, "' does not exist"));
  }
  errno = 0;
  gzFile raw = gzopen(path.c_str(), "rb");
  if (raw == nullptr) {
    const int err = errno;
    if (err != 0) return base::ErrnoError("open", path, err);
    return absl::UnknownError(absl::StrCat("open '", path, "': zlib cannot open it"));
  }
  gzbuffer(raw, 1 << 18);
  GzFile gz(raw);
  IdxArray out;
  out.path = path;
  absl::StatusOr<uint64_t> total = ReadIdxHeader(gz, path, magic, what, max_bytes, out);
  if (!total.ok()) return total.status();
  const uint64_t header = 4 + 4 * out.dims.size();
  if (absl::Status s = ReadIdxData(gz, path, what, header, *total, out); !s.ok()) return s;
  return out;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::StatusOr<std::vector<std::string>> ResolveClassNames(const std::string& dir,
                                                           const IdxOptions& options) {
  if (!options.class_names.empty()) return options.class_names;
  const std::string classes_path = base::JoinPath(dir, "classes.txt");
  if (internal::PathExists(classes_path)) {
    absl::StatusOr<std::string> text = base::ReadFile(classes_path);
    if (!text.ok()) return text.status();
    std::vector<std::string> names;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      names.emplace_back(absl::StripAsciiWhitespace(line));
    }
    while (!names.empty() && names.back().empty()) names.pop_back();
    if (names.empty()) {
      return absl::DataLossError(
          absl::StrCat("'", classes_path, "': holds no class names; expected one per line"));
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) {
        return absl::DataLossError(absl::StrCat("'", classes_path, "': line ", i + 1,
                                                " is empty; expected one class name per line"));
      }
    }
    return names;
  }
  if (absl::StrContains(absl::AsciiStrToLower(BaseName(dir)), "fashion")) {
    return FashionMnistClassNames();
  }
  std::vector<std::string> digits;
  for (int i = 0; i < 10; ++i) digits.push_back(absl::StrCat(i));
  return digits;
}

struct IdxPair {
  std::string images_path;
  std::string labels_path;
};

// Reads the pairs (in parallel, one file per task) and concatenates them.
absl::StatusOr<Dataset> ReadPairs(const std::vector<IdxPair>& pairs, const std::string& source,
                                  const IdxOptions& options) {
  absl::StatusOr<std::vector<std::string>> names =
      ResolveClassNames(DirOf(pairs[0].images_path), options);
  if (!names.ok()) return names.status();

  std::vector<IdxArray> arrays(2 * pairs.size());
  absl::Status s =
      internal::ParallelFor(arrays.size(), options.num_threads, [&](size_t i) -> absl::Status {
        const IdxPair& p = pairs[i / 2];
        absl::StatusOr<IdxArray> a =
            i % 2 == 0 ? ReadIdxFile(p.images_path, kIdxImagesMagic, "image", options.max_bytes)
                       : ReadIdxFile(p.labels_path, kIdxLabelsMagic, "label", options.max_bytes);
        if (!a.ok()) return a.status();
        arrays[i] = *std::move(a);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;

  Dataset d;
  d.source = source;
  d.class_names = *std::move(names);
  d.channels = 1;
  const IdxArray& first = arrays[0];
  d.height = static_cast<int>(first.dims[1]);  // ≤ kMaxSide, checked below.
  d.width = static_cast<int>(first.dims[2]);
  size_t total = 0;
  for (size_t p = 0; p < pairs.size(); ++p) {
    const IdxArray& images = arrays[2 * p];
    const IdxArray& labels = arrays[2 * p + 1];
    if (images.dims[0] != labels.dims[0]) {
      return absl::DataLossError(
          absl::StrCat("'", images.path, "' holds ", images.dims[0], " images but '", labels.path,
                       "' holds ", labels.dims[0], " labels; expected one label per image"));
    }
    if (images.dims[1] > kMaxSide || images.dims[2] > kMaxSide) {
      return absl::DataLossError(absl::StrCat("'", images.path, "': images of ", images.dims[1],
                                              "x", images.dims[2], " pixels; expected at most ",
                                              kMaxSide, " per side"));
    }
    if (images.dims[1] != first.dims[1] || images.dims[2] != first.dims[2]) {
      return absl::DataLossError(absl::StrCat(
          "'", images.path, "' holds ", images.dims[1], "x", images.dims[2], " images but '",
          first.path, "' holds ", first.dims[1], "x", first.dims[2], "; expected one image size"));
    }
    const size_t num_classes = d.class_names.size();
    for (size_t i = 0; i < labels.data.size(); ++i) {
      if (labels.data[i] >= num_classes) {
        return absl::DataLossError(absl::StrCat("'", labels.path, "': label ", i,
                                                " at byte offset ", 8 + i, " is ", labels.data[i],
                                                "; expected a class in [0, ", num_classes, ")"));
      }
    }
    total += images.dims[0];
  }
  d.pixels.reserve(total * d.image_bytes());
  d.labels.reserve(total);
  for (size_t p = 0; p < pairs.size(); ++p) {
    std::vector<uint8_t>& images = arrays[2 * p].data;
    const std::vector<uint8_t>& labels = arrays[2 * p + 1].data;
    if (pairs.size() == 1) {
      d.pixels = std::move(images);
    } else {
      d.pixels.insert(d.pixels.end(), images.begin(), images.end());
    }
    d.labels.insert(d.labels.end(), labels.begin(), labels.end());
    images = {};
  }
  return d;
}

// The first existing spelling of `prefix`'s `kind` file ("images-idx3" or
// "labels-idx1") in `dir`.
absl::StatusOr<std::string> FindIdxFile(const std::string& dir, absl::string_view prefix,
                                        absl::string_view kind) {
  // "images-idx3" → also "images.idx3" (the original MNIST spelling varies).
  std::string dotted(kind);
  dotted[dotted.find('-')] = '.';
  for (const std::string& stem :
       {absl::StrCat(prefix, "-", kind, "-ubyte"), absl::StrCat(prefix, "-", dotted, "-ubyte")}) {
    for (const char* suffix : {"", ".gz"}) {
      std::string path = base::JoinPath(dir, absl::StrCat(stem, suffix));
      if (internal::PathExists(path)) return path;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("IDX directory '", dir, "' has no ", prefix, "-", kind, "-ubyte[.gz]"));
}

}  // namespace

std::vector<std::string> FashionMnistClassNames() {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
}

absl::StatusOr<Dataset> ReadIdx(const std::string& images_path, const std::string& labels_path,
                                const IdxOptions& options) {
  return ReadPairs({{images_path, labels_path}}, absl::StrCat("idx:", images_path), options);
}

absl::StatusOr<Dataset> ReadIdxDir(const std::string& dir, Split split, const IdxOptions& options) {
  std::vector<IdxPair> pairs;
  std::vector<absl::string_view> prefixes;
  if (split != Split::kTest) prefixes.push_back("train");
  if (split != Split::kTrain) prefixes.push_back("t10k");
  for (absl::string_view prefix : prefixes) {
    IdxPair p;
    absl::StatusOr<std::string> images = FindIdxFile(dir, prefix, "images-idx3");
    if (!images.ok()) return images.status();
    absl::StatusOr<std::string> labels = FindIdxFile(dir, prefix, "labels-idx1");
    if (!labels.ok()) return labels.status();
    pairs.push_back({*std::move(images), *std::move(labels)});
  }
  return ReadPairs(pairs, absl::StrCat("idx:", dir, " [", SplitName(split), "]"), options);
}

}  // namespace latentsearch::data
