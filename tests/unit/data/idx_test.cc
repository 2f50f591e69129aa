#include "common/data/idx.h"

#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::data {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Each;
using ::testing::HasSubstr;

void PutBigEndian(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
}

// Image i, pixel p holds (i * 10 + p) & 0xff.
std::string Images(uint32_t n, uint32_t rows, uint32_t cols, uint32_t magic = 0x803) {
  std::string s;
  PutBigEndian(&s, magic);
  PutBigEndian(&s, n);
  PutBigEndian(&s, rows);
  PutBigEndian(&s, cols);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t p = 0; p < rows * cols; ++p) s.push_back(static_cast<char>(i * 10 + p));
  }
  return s;
}

std::string Labels(const std::vector<uint8_t>& labels) {
  std::string s;
  PutBigEndian(&s, 0x801);
  PutBigEndian(&s, static_cast<uint32_t>(labels.size()));
  for (uint8_t l : labels) s.push_back(static_cast<char>(l));
  return s;
}

// `data` as a gzip stream.
std::string Gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

class IdxFixtureTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& data) {
    std::string path = tmp_.Join(name);
    EXPECT_OK(base::WriteFileAtomically(path, data));
    return path;
  }
  // A Fashion-MNIST-like directory: 3 train and 2 test images of 4×5.
  void WriteDir(bool gz) {
    const std::string sfx = gz ? ".gz" : "";
    auto enc = [&](const std::string& d) { return gz ? Gzip(d) : d; };
    Write("train-images-idx3-ubyte" + sfx, enc(Images(3, 4, 5)));
    Write("train-labels-idx1-ubyte" + sfx, enc(Labels({9, 0, 3})));
    Write("t10k-images-idx3-ubyte" + sfx, enc(Images(2, 4, 5)));
    Write("t10k-labels-idx1-ubyte" + sfx, enc(Labels({1, 2})));
  }

  TempDir tmp_;
};

TEST_F(IdxFixtureTest, ReadsPlainPair) {
  std::string images = Write("im", Images(3, 4, 5));
  std::string labels = Write("lb", Labels({9, 0, 3}));
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadIdx(images, labels));
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.height, 4);
  EXPECT_EQ(d.width, 5);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{9, 0, 3}));
  EXPECT_EQ(d.image_data(2)[7], 27);
  // The temporary directory's name has no "fashion": digits.
  EXPECT_EQ(d.class_names.front(), "0");
  EXPECT_EQ(d.class_names.back(), "9");
  EXPECT_OK(Validate(d));
}

TEST_F(IdxFixtureTest, GzipAndPlainReadTheSame) {
  std::string images = Write("im.gz", Gzip(Images(3, 4, 5)));
  std::string labels = Write("lb.gz", Gzip(Labels({9, 0, 3})));
  ASSERT_OK_AND_ASSIGN(Dataset gz, ReadIdx(images, labels));
  ASSERT_OK_AND_ASSIGN(Dataset plain,
                       ReadIdx(Write("im", Images(3, 4, 5)), Write("lb", Labels({9, 0, 3}))));
  EXPECT_EQ(gz.pixels, plain.pixels);
  EXPECT_EQ(gz.labels, plain.labels);
}

TEST_F(IdxFixtureTest, DirectorySplits) {
  for (bool gz : {false, true}) {
    WriteDir(gz);
    ASSERT_OK_AND_ASSIGN(Dataset train, ReadIdxDir(tmp_.path(), Split::kTrain));
    EXPECT_EQ(train.size(), 3u);
    ASSERT_OK_AND_ASSIGN(Dataset test, ReadIdxDir(tmp_.path(), Split::kTest));
    EXPECT_EQ(test.labels, (std::vector<int32_t>{1, 2}));
    ASSERT_OK_AND_ASSIGN(Dataset all, ReadIdxDir(tmp_.path(), Split::kAll));
    EXPECT_EQ(all.labels, (std::vector<int32_t>{9, 0, 3, 1, 2}));
    EXPECT_EQ(all.pixels.size(), 5u * 20);
    EXPECT_EQ(all.image_data(3)[0], 0);  // Test image 0.
    EXPECT_EQ(all.image_data(4)[0], 10);
    EXPECT_THAT(all.source, HasSubstr("[all]"));
  }
}

TEST_F(IdxFixtureTest, ClassNamesByPrecedence) {
  WriteDir(false);
  IdxOptions explicit_names;
  explicit_names.class_names = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  ASSERT_OK_AND_ASSIGN(Dataset d1, ReadIdxDir(tmp_.path(), Split::kTest, explicit_names));
  EXPECT_EQ(d1.class_names, explicit_names.class_names);

  Write("classes.txt", "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n");
  ASSERT_OK_AND_ASSIGN(Dataset d2, ReadIdxDir(tmp_.path(), Split::kTest));
  EXPECT_EQ(d2.class_names[2], "two");

  // Too few classes for the labels (label 9 in the training file).
  Write("classes.txt", "a\nb\nc\nd\n");
  EXPECT_THAT(
      ReadIdxDir(tmp_.path(), Split::kTrain),
      StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("train-labels-idx1-ubyte"),
                                                  HasSubstr("label 0 at byte offset 8 is 9"),
                                                  HasSubstr("expected a class in [0, 4)"))));
  Write("classes.txt", "a\n\nc\n");
  EXPECT_THAT(ReadIdxDir(tmp_.path(), Split::kTest),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("classes.txt"), HasSubstr("line 2 is empty"))));

  const std::string fashion = tmp_.Join("My-Fashion-MNIST");
  ASSERT_OK(base::MakeDirs(fashion));
  ASSERT_OK(base::WriteFileAtomically(base::JoinPath(fashion, "t10k-images-idx3-ubyte"),
                                      Images(2, 4, 5)));
  ASSERT_OK(
      base::WriteFileAtomically(base::JoinPath(fashion, "t10k-labels-idx1-ubyte"), Labels({9, 0})));
  ASSERT_OK_AND_ASSIGN(Dataset d3, ReadIdxDir(fashion + "/", Split::kTest));
  EXPECT_EQ(d3.class_names, FashionMnistClassNames());
  EXPECT_EQ(d3.class_names[9], "Ankle boot");
}

TEST_F(IdxFixtureTest, MissingFilesAreNotFound) {
  EXPECT_THAT(
      ReadIdxDir(tmp_.path(), Split::kTest),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("has no t10k-images-idx3-ubyte[.gz]")));
  Write("t10k-images-idx3-ubyte", Images(2, 4, 5));
  EXPECT_THAT(
      ReadIdxDir(tmp_.path(), Split::kTest),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("has no t10k-labels-idx1-ubyte[.gz]")));
  EXPECT_THAT(ReadIdx(tmp_.Join("nope"), tmp_.Join("nope2")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

// A read error (here: the path is a directory) names the system's cause.
TEST_F(IdxFixtureTest, AReadErrorNamesItsCause) {
  std::string labels = Write("lb", Labels({1, 2}));
  EXPECT_THAT(ReadIdx(tmp_.path(), labels),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(tmp_.path()), HasSubstr("Is a directory"))));
}

TEST_F(IdxFixtureTest, WrongMagicNamesFileAndOffset) {
  std::string labels = Write("lb", Labels({1, 2}));
  EXPECT_THAT(
      ReadIdx(labels, labels),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("'" + labels + "'"),
                     HasSubstr("magic number 0x00000801 at byte offset 0"),
                     HasSubstr("this is an IDX labels file"), HasSubstr("expected 0x00000803"))));
  std::string bogus = Write("bogus", Images(2, 4, 5, 0x0D0A0D0A));
  EXPECT_THAT(
      ReadIdx(bogus, labels),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("magic number 0x0d0a0d0a at byte offset 0")));
}

TEST_F(IdxFixtureTest, TruncatedHeader) {
  std::string labels = Write("lb", Labels({1, 2}));
  EXPECT_THAT(
      ReadIdx(Write("im", Images(2, 4, 5).substr(0, 10)), labels),
      StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("header ends at byte offset 10"),
                                                  HasSubstr("expected 3 4-byte dimensions"))));
  EXPECT_THAT(ReadIdx(Write("im2", std::string("\0\0", 2)), labels),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("ends after 2 bytes; expected a 4-byte IDX magic number")));
}

TEST_F(IdxFixtureTest, TruncatedDataNamesTheIncompleteImage) {
  std::string labels = Write("lb", Labels({1, 2, 3}));
  std::string data = Images(3, 4, 4);
  data.resize(data.size() - 5);
  std::string images = Write("im", data);
  EXPECT_THAT(ReadIdx(images, labels),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("'" + images + "'"),
                             HasSubstr("image 2 of 3 at byte offset 48 is incomplete"),
                             HasSubstr("ends after 59 of 64 bytes"))));
  // The same through gzip: offsets are in the decompressed data.
  std::string gz = Write("im.gz", Gzip(data));
  EXPECT_THAT(ReadIdx(gz, labels),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("im.gz"),
                             HasSubstr("image 2 of 3 at decompressed byte offset 48"))));
}

TEST_F(IdxFixtureTest, TrailingBytesAreDataLoss) {
  std::string labels = Write("lb", Labels({1, 2}));
  std::string images = Write("im", Images(2, 4, 5) + "xy");
  EXPECT_THAT(ReadIdx(images, labels),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("2 unexpected bytes after the last image"),
                             HasSubstr("at byte offset 56"))));
}

TEST_F(IdxFixtureTest, AbsurdDimensionsAreDataLoss) {
  std::string data = Images(2, 28, 28);
  data[4] = '\x7f';  // Count 0x7f000002: over 2^40 bytes.
  std::string labels = Write("lb", Labels({1, 2}));
  EXPECT_THAT(ReadIdx(Write("im", data), labels),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("the header is corrupt")));
}

TEST_F(IdxFixtureTest, DeclaredSizeOverTheLimitIsResourceExhausted) {
  std::string images = Write("im", Images(3, 4, 5));
  std::string labels = Write("lb", Labels({1, 2, 3}));
  IdxOptions small;
  small.max_bytes = 59;
  EXPECT_THAT(
      ReadIdx(images, labels, small),
      StatusIs(absl::StatusCode::kResourceExhausted,
               AllOf(HasSubstr("'" + images + "'"), HasSubstr("declares 60 bytes of image data"),
                     HasSubstr("limit of 59 bytes"))));
  small.max_bytes = 60;
  EXPECT_OK(ReadIdx(images, labels, small).status());
}

TEST_F(IdxFixtureTest, ZeroDimensionIsDataLoss) {
  std::string labels = Write("lb", Labels({1, 2}));
  EXPECT_THAT(
      ReadIdx(Write("im", Images(2, 0, 5)), labels),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("dimension 1 at byte offset 8 is 0")));
}

TEST_F(IdxFixtureTest, ForgedHugeCountFailsWithoutHugeAllocation) {
  std::string data = Images(2, 28, 28);
  data[5] = '\x10';  // Count 0x00100002: 822 MB declared, 1.5 KB present.
  std::string labels = Write("lb", Labels({1, 2}));
  EXPECT_THAT(ReadIdx(Write("im", data), labels),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("image 2 of 1048578 at byte offset 1584 is incomplete")));
}

TEST_F(IdxFixtureTest, CorruptGzipIsDataLossNotACrash) {
  std::string labels = Write("lb", Labels({1, 2, 3}));
  const std::string good = Gzip(Images(3, 16, 16));

  std::string truncated = good.substr(0, good.size() - 12);
  EXPECT_THAT(ReadIdx(Write("trunc.gz", truncated), labels),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("trunc.gz")));

  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 6] ^= 0x55;  // In the CRC-32 trailer.
  EXPECT_THAT(ReadIdx(Write("crc.gz", bad_crc), labels),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("crc.gz"), HasSubstr("corrupt gzip data"))));

  // Flip bytes throughout the deflate stream: every variant must fail
  // cleanly (DATA_LOSS) or, rarely, still decode to the declared data.
  for (size_t at = 10; at + 8 < good.size(); at += 3) {
    std::string mangled = good;
    mangled[at] ^= 0xA5;
    absl::Status s = ReadIdx(Write("mangled.gz", mangled), labels).status();
    if (!s.ok()) {
      EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss, HasSubstr("mangled.gz")))
          << "byte " << at;
    }
  }
}

TEST_F(IdxFixtureTest, CountMismatchNamesBothFiles) {
  std::string images = Write("im", Images(3, 4, 5));
  std::string labels = Write("lb", Labels({1, 2}));
  EXPECT_THAT(
      ReadIdx(images, labels),
      StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("'" + images + "' holds 3 images"),
                                                  HasSubstr("'" + labels + "' holds 2 labels"))));
}

TEST_F(IdxFixtureTest, LabelOutOfRange) {
  std::string images = Write("im", Images(3, 4, 5));
  std::string labels = Write("lb", Labels({1, 10, 2}));
  EXPECT_THAT(ReadIdx(images, labels), StatusIs(absl::StatusCode::kDataLoss,
                                                AllOf(HasSubstr("'" + labels + "'"),
                                                      HasSubstr("label 1 at byte offset 9 is 10"),
                                                      HasSubstr("expected a class in [0, 10)"))));
}

TEST_F(IdxFixtureTest, TrainAndTestImageSizesMustAgree) {
  WriteDir(false);
  Write("t10k-images-idx3-ubyte", Images(2, 5, 5));
  EXPECT_THAT(ReadIdxDir(tmp_.path(), Split::kAll),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("t10k-images-idx3-ubyte' holds 5x5 images"),
                             HasSubstr("train-images-idx3-ubyte' holds 4x5"),
                             HasSubstr("expected one image size"))));
}

// Debian's dataset-fashion-mnist (or $LS_FASHION_MNIST_DIR), when present.
class FashionMnistRealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> dir = ::latentsearch::testing::FashionMnistDir();
    if (!dir) GTEST_SKIP() << "Fashion-MNIST not found; install dataset-fashion-mnist";
    dir_ = *dir;
  }
  std::string dir_;
};

TEST_F(FashionMnistRealTest, TrainAndTestSplits) {
  ASSERT_OK_AND_ASSIGN(Dataset train, ReadIdxDir(dir_, Split::kTrain));
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(train.height, 28);
  EXPECT_EQ(train.width, 28);
  EXPECT_EQ(train.channels, 1);
  EXPECT_THAT(ClassCounts(train), Each(6000u));
  EXPECT_EQ(train.class_names, FashionMnistClassNames());
  ASSERT_OK_AND_ASSIGN(Dataset test, ReadIdxDir(dir_, Split::kTest));
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_THAT(ClassCounts(test), Each(1000u));
}

TEST_F(FashionMnistRealTest, AllIsTrainThenTest) {
  ASSERT_OK_AND_ASSIGN(Dataset all, ReadIdxDir(dir_, Split::kAll));
  ASSERT_EQ(all.size(), 70000u);
  EXPECT_EQ(all.pixels.size(), 70000u * 28 * 28);
  EXPECT_THAT(ClassCounts(all), Each(7000u));
  EXPECT_OK(Validate(all));
  ASSERT_OK_AND_ASSIGN(Dataset test, ReadIdxDir(dir_, Split::kTest));
  EXPECT_EQ(0, std::memcmp(all.image_data(60000), test.image_data(0), 784));
  EXPECT_EQ(all.labels[69999], test.labels[9999]);
}

}  // namespace
}  // namespace latentsearch::data
