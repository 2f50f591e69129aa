// The zip directory and pickle checks of weights_archive.h. Regression
// inputs for each check: tests/fuzz/regressions/model_weights_fuzzer
// (oom-record-size, oom-pickle-string-length, heap-overflow-zip-reader).
#include "common/model/weights_archive.h"

#include <array>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/little_endian.h"

namespace latentsearch::model {
namespace {

// Sizes and signatures of the zip structures.
constexpr size_t kEndSize = 22, kLocatorSize = 20, kZip64EndSize = 56;
constexpr size_t kCentralSize = 46, kLocalSize = 30;
constexpr uint64_t kEndSignature = 0x06054b50, kLocatorSignature = 0x07064b50;
constexpr uint64_t kZip64EndSignature = 0x06064b50, kCentralSignature = 0x02014b50;
constexpr uint64_t kLocalSignature = 0x04034b50;

// Little-endian fields of the zip structures (callers check the bounds).
uint64_t U16(absl::string_view bytes, size_t pos) {
  return base::LoadLittleEndian<uint16_t>(bytes.data() + pos);
}
uint64_t U32(absl::string_view bytes, size_t pos) {
  return base::LoadLittleEndian<uint32_t>(bytes.data() + pos);
}
uint64_t U64(absl::string_view bytes, size_t pos) {
  return base::LoadLittleEndian<uint64_t>(bytes.data() + pos);
}

// A pickle argument of `width` bytes (1, 2, 4 or 8), little-endian.
uint64_t LoadUnsigned(absl::string_view bytes, size_t pos, int width) {
  switch (width) {
    case 1:
      return static_cast<uint8_t>(bytes[pos]);
    case 2:
      return U16(bytes, pos);
    case 4:
      return U32(bytes, pos);
    default:
      return U64(bytes, pos);
  }
}

absl::Status NotAZip(absl::string_view bytes, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("weights archive (", bytes.size(), " bytes) is not a valid zip: ", what));
}

// Where the central directory lies, as the end records declare it.
struct CentralDirectory {
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
};

// When a zip64 locator precedes the end record at `end`, the zip64 end
// record it points at must agree with `dir` (read from the end record) and
// replaces its fields.
absl::Status ApplyZip64(absl::string_view bytes, size_t end, CentralDirectory* dir) {
  const size_t n = bytes.size();
  if (end < kLocatorSize || U32(bytes, end - kLocatorSize) != kLocatorSignature) {
    return absl::OkStatus();
  }
  const uint64_t z64 = U64(bytes, end - kLocatorSize + 8);
  if (z64 > n || n - z64 < kZip64EndSize || U32(bytes, z64) != kZip64EndSignature) {
    return NotAZip(bytes, "its zip64 locator points at no zip64 end record");
  }
  const CentralDirectory dir64 = {U64(bytes, z64 + 32), U64(bytes, z64 + 40), U64(bytes, z64 + 48)};
  if ((dir->entries != 0xFFFF && dir->entries != dir64.entries) ||
      (dir->size != 0xFFFFFFFF && dir->size != dir64.size) ||
      (dir->offset != 0xFFFFFFFF && dir->offset != dir64.offset)) {
    return NotAZip(bytes, "its zip64 end record disagrees with its end record");
  }
  *dir = dir64;
  return absl::OkStatus();
}

// Finds the end record (the last signature within 64 KiB of the end, as
// miniz does) and checks that the directory it declares fits the archive.
absl::StatusOr<CentralDirectory> FindCentralDirectory(absl::string_view bytes) {
  const size_t n = bytes.size();
  if (n < kEndSize) return NotAZip(bytes, "shorter than a zip end record");
  size_t end = std::string::npos;
  const size_t lowest = n - kEndSize > 0xFFFF ? n - kEndSize - 0xFFFF : 0;
  for (size_t pos = n - kEndSize + 1; pos-- > lowest;) {
    if (U32(bytes, pos) == kEndSignature) {
      end = pos;
      break;
    }
  }
  if (end == std::string::npos) return NotAZip(bytes, "no end-of-central-directory record");
  CentralDirectory dir = {U16(bytes, end + 10), U32(bytes, end + 12), U32(bytes, end + 16)};
  if (absl::Status s = ApplyZip64(bytes, end, &dir); !s.ok()) return s;
  if (dir.offset > n || dir.size > n - dir.offset) {
    return NotAZip(bytes, absl::StrCat("central directory (", dir.size, " bytes at offset ",
                                       dir.offset, ") is past its end"));
  }
  if (dir.entries > dir.size / kCentralSize) {
    return NotAZip(bytes, absl::StrCat(dir.entries, " records cannot fit a central directory of ",
                                       dir.size, " bytes"));
  }
  return dir;
}

// Reads central directory record `i` at *pos (the directory ends at
// dir_end), checks the record it describes and adds it to `archive`;
// advances *pos to the next record.
absl::Status ReadCentralRecord(absl::string_view bytes, uint64_t i, size_t dir_end, size_t* pos,
                               ArchiveDirectory* archive) {
  const size_t n = bytes.size(), p = *pos;
  if (dir_end - p < kCentralSize || U32(bytes, p) != kCentralSignature) {
    return NotAZip(bytes, absl::StrCat("central directory record ", i, " is damaged"));
  }
  const uint64_t method = U16(bytes, p + 10);
  const uint64_t packed = U32(bytes, p + 20);
  const uint64_t size = U32(bytes, p + 24);
  const size_t name_length = U16(bytes, p + 28);
  const size_t variable = name_length + U16(bytes, p + 30) + U16(bytes, p + 32);
  const uint64_t local = U32(bytes, p + 42);
  if (dir_end - p - kCentralSize < variable) {
    return NotAZip(bytes, absl::StrCat("central directory record ", i, " is past its end"));
  }
  const std::string name(bytes.substr(p + kCentralSize, name_length));
  if (method != 0) {
    return NotAZip(bytes, absl::StrCat("record '", name, "' is compressed (method ", method,
                                       "); LibTorch stores weights uncompressed"));
  }
  if (packed != size || size == 0xFFFFFFFF) {
    return NotAZip(
        bytes, absl::StrCat("record '", name, "' declares ", size, " bytes but stores ", packed));
  }
  if (local > n || n - local < kLocalSize || U32(bytes, local) != kLocalSignature) {
    return NotAZip(bytes,
                   absl::StrCat("record '", name, "' has no local header at offset ", local));
  }
  const uint64_t data = local + kLocalSize + U16(bytes, local + 26) + U16(bytes, local + 28);
  if (data > n || n - data < size) {
    return NotAZip(bytes, absl::StrCat("record '", name, "' (", size, " bytes at offset ", data,
                                       ") is past its end"));
  }
  if (i == 0) archive->first = name;
  if (!archive->records.emplace(name, RecordSpan{data, size}).second) {
    return NotAZip(bytes, absl::StrCat("record '", name, "' appears twice"));
  }
  *pos = p + kCentralSize + variable;
  return absl::OkStatus();
}

// What follows a pickle opcode.
struct PickleArgument {
  enum Kind : uint8_t {
    kInvalid,  // not a pickle opcode
    kStop,     // STOP: the program ends here
    kNone,     // no argument
    kMemoize,  // MEMOIZE: stores a memo value, no argument
    kFixed,    // `width` bytes
    kMemoPut,  // `width` bytes of memo index (BINPUT, LONG_BINPUT)
    kCounted,  // a `width`-byte length, then that many bytes
    kLines,    // `width` newline-terminated text arguments
  };
  Kind kind = kInvalid;
  int width = 0;
};

// Every opcode of the pickle protocols 0–5 by its argument.
const std::array<PickleArgument, 256>& PickleOpcodes() {
  static const std::array<PickleArgument, 256> table = [] {
    std::array<PickleArgument, 256> t{};
    auto set = [&t](absl::string_view ops, PickleArgument::Kind kind, int width) {
      for (char op : ops) t[static_cast<uint8_t>(op)] = {kind, width};
    };
    using K = PickleArgument;
    set("}])(tsuaeNRbQ012\x81\x85\x86\x87\x88\x89\x93\x90\x91\x92", K::kNone, 0);
    set(".", K::kStop, 0);
    set("\x94", K::kMemoize, 0);
    set("\x80Kh", K::kFixed, 1);
    set("M", K::kFixed, 2);
    set("Jj", K::kFixed, 4);
    set("G\x95", K::kFixed, 8);
    set("q", K::kMemoPut, 1);
    set("r", K::kMemoPut, 4);
    set("\x8a\x8c"
        "CU",
        K::kCounted, 1);
    set("\x8bXBT", K::kCounted, 4);
    set("\x8d\x8e\x96", K::kCounted, 8);
    set("c", K::kLines, 2);
    set("ILFSVPgp", K::kLines, 1);
    return t;
  }();
  return table;
}

// One pass over a pickle program (CheckPickle); errors name the offset
// where the program went wrong.
class PickleChecker {
 public:
  explicit PickleChecker(absl::string_view program) : program_(program) {}

  absl::Status Run() {
    while (pos_ < program_.size()) {
      const uint8_t op = static_cast<uint8_t>(program_[pos_++]);
      const PickleArgument arg = PickleOpcodes()[op];
      absl::Status s;
      switch (arg.kind) {
        case PickleArgument::kInvalid:
          --pos_;
          return Bad(absl::StrFormat("opcode 0x%02x is not a pickle opcode", op));
        case PickleArgument::kStop:
          return pos_ == program_.size() ? absl::OkStatus() : Bad("bytes after STOP");
        case PickleArgument::kNone:
          break;
        case PickleArgument::kMemoize:
          ++puts_;
          break;
        case PickleArgument::kFixed:
        case PickleArgument::kMemoPut:
          s = SkipFixed(arg.width, arg.kind == PickleArgument::kMemoPut);
          break;
        case PickleArgument::kCounted:
          s = SkipCounted(arg.width);
          break;
        case PickleArgument::kLines:
          s = SkipLines(arg.width);
          break;
      }
      if (!s.ok()) return s;
    }
    return Bad("no STOP");
  }

 private:
  absl::Status Bad(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat("weights archive's pickle (", program_.size(),
                                            " bytes) is malformed at offset ", pos_, ": ", what));
  }
  bool Need(uint64_t bytes) const { return bytes <= program_.size() - pos_; }

  absl::Status SkipFixed(int width, bool memo) {
    if (!Need(static_cast<uint64_t>(width))) return Bad("argument past the end");
    if (memo) {
      const uint64_t index = LoadUnsigned(program_, pos_, width);
      if (index > puts_) {
        return Bad(absl::StrCat("memo index ", index, " but only ", puts_, " values were stored"));
      }
      ++puts_;
    }
    pos_ += static_cast<size_t>(width);
    return absl::OkStatus();
  }

  absl::Status SkipCounted(int width) {
    if (!Need(static_cast<uint64_t>(width))) return Bad("length past the end");
    const uint64_t declared = LoadUnsigned(program_, pos_, width);
    pos_ += static_cast<size_t>(width);
    if (!Need(declared)) {
      return Bad(
          absl::StrCat("declares ", declared, " bytes, ", program_.size() - pos_, " are left"));
    }
    pos_ += static_cast<size_t>(declared);
    return absl::OkStatus();
  }

  absl::Status SkipLines(int lines) {
    for (int i = 0; i < lines; ++i) {
      const size_t end = program_.find('\n', pos_);
      if (end == absl::string_view::npos) return Bad("text argument without its newline");
      pos_ = end + 1;
    }
    return absl::OkStatus();
  }

  absl::string_view program_;
  size_t pos_ = 0;   // the next byte to read
  size_t puts_ = 0;  // memo values stored so far
};

}  // namespace

absl::StatusOr<ArchiveDirectory> ReadArchiveDirectory(absl::string_view bytes) {
  absl::StatusOr<CentralDirectory> dir = FindCentralDirectory(bytes);
  if (!dir.ok()) return dir.status();
  const size_t dir_end = dir->offset + dir->size;
  ArchiveDirectory archive;
  size_t pos = dir->offset;
  for (uint64_t i = 0; i < dir->entries; ++i) {
    if (absl::Status s = ReadCentralRecord(bytes, i, dir_end, &pos, &archive); !s.ok()) return s;
  }
  return archive;
}

absl::Status CheckPickle(absl::string_view program) { return PickleChecker(program).Run(); }

absl::Status CheckWeightsArchive(absl::string_view bytes) {
  absl::StatusOr<ArchiveDirectory> archive = ReadArchiveDirectory(bytes);
  if (!archive.ok()) return archive.status();
  if (archive->records.empty()) return absl::DataLossError("weights archive holds no records");
  const size_t slash = archive->first.find('/');
  const std::string pickle =
      (slash == std::string::npos ? archive->first : archive->first.substr(0, slash)) + "/data.pkl";
  auto it = archive->records.find(pickle);
  if (it == archive->records.end()) {
    return absl::DataLossError(absl::StrCat("weights archive has no '", pickle, "' record"));
  }
  return CheckPickle(bytes.substr(it->second.offset, it->second.size));
}

}  // namespace latentsearch::model
