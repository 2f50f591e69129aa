// The torch-free weights-archive checks (common/model/weights_archive.h) on
// zip files built here by hand: what LibTorch writes passes, each kind of
// damage is DATA_LOSS naming it, and pickle errors name their offset. (The
// same checks on real LibTorch archives: ModelFuzzRegressionTest in
// model_test.)
#include "common/model/weights_archive.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/model/archive_damage.h"

namespace latentsearch::model {
namespace {

using archive_damage::PatchedLe;
using archive_damage::SetLe;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

// PROTO 2, EMPTY_DICT, BINPUT 0, STOP.
const std::string kPickle("\x80\x02}q\x00.", 6);

void PutLe(std::string* out, uint64_t v, int width) {
  for (int i = 0; i < width; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

struct Entry {
  std::string name;
  std::string data;
};

// Offsets of the parts of an archive built by Zip.
struct Layout {
  std::vector<size_t> central;  // each record's central directory entry
  size_t end = 0;               // the end record
  size_t zip64_end = 0;         // the zip64 end record (when written)
};

// A zip of stored (uncompressed) records, as LibTorch writes them: local
// headers and data, the central directory, optionally a zip64 end record
// and locator, and the end record.
std::string Zip(const std::vector<Entry>& entries, bool zip64 = true, Layout* layout = nullptr) {
  std::string out;
  std::vector<size_t> locals;
  for (const Entry& e : entries) {
    locals.push_back(out.size());
    PutLe(&out, 0x04034b50, 4);
    PutLe(&out, 20, 2);  // version needed
    PutLe(&out, 0, 2);   // flags
    PutLe(&out, 0, 2);   // method: stored
    PutLe(&out, 0, 4);   // time, date
    PutLe(&out, 0, 4);   // CRC-32 (not checked here)
    PutLe(&out, e.data.size(), 4);
    PutLe(&out, e.data.size(), 4);
    PutLe(&out, e.name.size(), 2);
    PutLe(&out, 0, 2);  // extra field
    out += e.name + e.data;
  }
  Layout l;
  const size_t dir = out.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    l.central.push_back(out.size());
    PutLe(&out, 0x02014b50, 4);
    PutLe(&out, 20, 2);                      // made by
    PutLe(&out, 20, 2);                      // needed
    PutLe(&out, 0, 2);                       // flags
    PutLe(&out, 0, 2);                       // method (offset 10)
    PutLe(&out, 0, 4);                       // time, date
    PutLe(&out, 0, 4);                       // CRC-32
    PutLe(&out, entries[i].data.size(), 4);  // packed (offset 20)
    PutLe(&out, entries[i].data.size(), 4);  // size (offset 24)
    PutLe(&out, entries[i].name.size(), 2);
    PutLe(&out, 0, 6);          // extra, comment, disk
    PutLe(&out, 0, 6);          // attributes
    PutLe(&out, locals[i], 4);  // local header (offset 42)
    out += entries[i].name;
  }
  const size_t dir_size = out.size() - dir;
  if (zip64) {
    l.zip64_end = out.size();
    PutLe(&out, 0x06064b50, 4);
    PutLe(&out, 44, 8);  // size of the rest of the record
    PutLe(&out, 0, 12);  // made by, needed, disk, disk with the directory
    PutLe(&out, entries.size(), 8);
    PutLe(&out, entries.size(), 8);  // offset 32
    PutLe(&out, dir_size, 8);        // offset 40
    PutLe(&out, dir, 8);             // offset 48
    PutLe(&out, 0x07064b50, 4);
    PutLe(&out, 0, 4);
    PutLe(&out, l.zip64_end, 8);
    PutLe(&out, 1, 4);
  }
  l.end = out.size();
  PutLe(&out, 0x06054b50, 4);
  PutLe(&out, 0, 4);  // disks
  PutLe(&out, entries.size(), 2);
  PutLe(&out, entries.size(), 2);  // offset 10
  PutLe(&out, dir_size, 4);        // offset 12
  PutLe(&out, dir, 4);             // offset 16
  PutLe(&out, 0, 2);               // comment
  if (layout != nullptr) *layout = l;
  return out;
}

std::vector<Entry> Weights() {
  return {{"archive/data.pkl", kPickle}, {"archive/data/0", "abcd"}, {"archive/version", "3\n"}};
}

TEST(WeightsArchiveTest, AcceptsStoredRecordsWithAndWithoutZip64) {
  for (bool zip64 : {true, false}) {
    const std::string zip = Zip(Weights(), zip64);
    ASSERT_OK_AND_ASSIGN(ArchiveDirectory dir, ReadArchiveDirectory(zip));
    EXPECT_EQ(dir.first, "archive/data.pkl");
    ASSERT_EQ(dir.records.size(), 3u);
    const RecordSpan data = dir.records.at("archive/data/0");
    EXPECT_EQ(zip.substr(data.offset, data.size), "abcd");
    EXPECT_OK(CheckWeightsArchive(zip)) << zip64;
  }
}

// The pickle is found in the first record's directory, whatever its name.
TEST(WeightsArchiveTest, FindsThePickleInTheFirstRecordsDirectory) {
  EXPECT_OK(CheckWeightsArchive(Zip({{"w/version", "3\n"}, {"w/data.pkl", kPickle}})));
  EXPECT_THAT(CheckWeightsArchive(Zip({{"w/version", "3\n"}, {"v/data.pkl", kPickle}})),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("has no 'w/data.pkl' record")));
  EXPECT_THAT(CheckWeightsArchive(Zip({})),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("holds no records")));
  // A bad pickle inside a sound directory.
  EXPECT_THAT(CheckWeightsArchive(Zip({{"w/data.pkl", "\xff."}})),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("opcode 0xff")));
}

TEST(WeightsArchiveTest, NamesEachKindOfDirectoryDamage) {
  Layout l;
  const std::string good = Zip(Weights(), /*zip64=*/true, &l);
  auto patched = [&](size_t pos, uint64_t v, int width) { return PatchedLe(good, pos, v, width); };
  const std::vector<archive_damage::Case> cases = archive_damage::CutsAnd(
      good, l.end,
      {
          {patched(l.central[0] + 10, 8, 2), "is compressed (method 8)"},
          {patched(l.central[1] + 24, 5, 4), "'archive/data/0' declares 5 bytes but stores 4"},
          {patched(l.central[1] + 24, 0xFFFFFFFF, 4), "declares 4294967295 bytes"},
          {patched(l.central[1] + 42, 0x7f000000, 4), "has no local header at offset"},
          {patched(l.end + 16, 1, 4), "zip64 end record disagrees"},
          {patched(l.zip64_end + 32, 1000, 8), "zip64 end record disagrees"},
          {patched(l.end - 20 + 8, 1u << 30, 8), "zip64 locator points at no zip64 end record"},
          {patched(l.central[2], 0, 4), "central directory record 2 is damaged"},
          {Zip({{"a/data.pkl", kPickle}, {"a/data.pkl", "x"}}), "'a/data.pkl' appears twice"},
      });
  for (const archive_damage::Case& c : cases) {
    EXPECT_THAT(ReadArchiveDirectory(c.bytes).status(),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(c.message)))
        << c.message;
    EXPECT_THAT(CheckWeightsArchive(c.bytes), StatusIs(absl::StatusCode::kDataLoss, ::testing::_))
        << c.message;
  }
  // Without a zip64 record, the end record alone declares the directory.
  Layout l32;
  const std::string good32 = Zip(Weights(), /*zip64=*/false, &l32);
  std::string b = good32;
  SetLe(&b, l32.end + 12, 1u << 30, 4);
  EXPECT_THAT(ReadArchiveDirectory(b).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("central directory (1073741824 bytes at offset")));
  b = good32;
  SetLe(&b, l32.end + 10, 1000, 2);
  EXPECT_THAT(ReadArchiveDirectory(b).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("1000 records cannot fit")));
}

TEST(PickleCheckTest, AcceptsWhatLibTorchWritesAndCountsMemoValues) {
  EXPECT_OK(CheckPickle(kPickle));
  EXPECT_OK(CheckPickle(std::string("}\x94q\x01.", 5)));  // MEMOIZE stores one value
  EXPECT_OK(CheckPickle("cmodule\nname\n."));
  EXPECT_OK(CheckPickle(std::string("X\x02\x00\x00\x00hiq\x00.", 10)));
}

TEST(PickleCheckTest, NamesTheDamageAndItsOffset) {
  struct Case {
    std::string program;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "at offset 0: no STOP"},
      {"}", "at offset 1: no STOP"},
      {".}", "at offset 1: bytes after STOP"},
      {"}\xff.", "at offset 1: opcode 0xff is not a pickle opcode"},
      {std::string("}q\x01.", 4), "at offset 2: memo index 1 but only 0 values were stored"},
      {std::string("r\x00\x00\x00\x80.", 6), "memo index 2147483648"},
      {"K", "at offset 1: argument past the end"},
      {"X\x01", "at offset 1: length past the end"},
      {std::string("X\xfe\xff\xff\xff.", 6), "at offset 5: declares 4294967294 bytes, 1 are left"},
      {"cmodule\nname", "at offset 8: text argument without its newline"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(CheckPickle(c.program), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(c.message)))
        << c.message;
  }
}

}  // namespace
}  // namespace latentsearch::model
