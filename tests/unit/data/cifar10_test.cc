#include "common/data/cifar10.h"

#include <openssl/evp.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Record r of file f: label (f + r) % 10; R, G, B plane byte p derived from
// (f, r, p, plane) so every byte's origin can be checked.
uint8_t PlaneByte(int f, int r, int p, int plane) {
  return static_cast<uint8_t>(f * 31 + r * 17 + p * (plane + 1) + plane * 50);
}

std::string Record(int f, int r, int label) {
  std::string rec(1, static_cast<char>(label));
  for (int plane = 0; plane < 3; ++plane) {
    for (int p = 0; p < 1024; ++p) rec.push_back(static_cast<char>(PlaneByte(f, r, p, plane)));
  }
  return rec;
}

std::string Md5(const std::string& data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), d, &len, EVP_md5(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", d[i]);
  return hex;
}

// A CIFAR-10 directory with `records` records per file (file index f: 0..4
// training, 5 test), batches.meta.txt and a correct MD5SUMS.
class Cifar10FixtureTest : public ::testing::Test {
 protected:
  static constexpr int kRecords = 3;

  void SetUp() override {
    std::string sums;
    const std::vector<std::string> files = Cifar10Files(Split::kAll);
    for (int f = 0; f < 6; ++f) {
      std::string data;
      for (int r = 0; r < kRecords; ++r) data += Record(f, r, (f + r) % 10);
      Write(files[f], data);
      absl::StrAppend(&sums, Md5(data), "  ", files[f], "\n");
    }
    Write("MD5SUMS", sums);
    Write("batches.meta.txt", "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n\n");
  }

  void Write(const std::string& name, const std::string& data) {
    ASSERT_OK(base::WriteFileAtomically(tmp_.Join(name), data));
  }

  TempDir tmp_;
};

TEST_F(Cifar10FixtureTest, ReadsAllSplitsInOrderAsHwc) {
  ASSERT_OK_AND_ASSIGN(Dataset all, ReadCifar10(tmp_.path(), Split::kAll));
  ASSERT_EQ(all.size(), 18u);
  EXPECT_EQ(all.height, 32);
  EXPECT_EQ(all.width, 32);
  EXPECT_EQ(all.channels, 3);
  EXPECT_EQ(all.pixels.size(), 18u * 3072);
  EXPECT_EQ(all.class_names[9], "c9");
  EXPECT_THAT(all.source, HasSubstr("[all]"));
  EXPECT_OK(Validate(all));
  for (int f = 0; f < 6; ++f) {
    for (int r = 0; r < kRecords; ++r) {
      const size_t i = static_cast<size_t>(f * kRecords + r);
      EXPECT_EQ(all.labels[i], (f + r) % 10);
      const uint8_t* img = all.image_data(i);
      for (int p : {0, 1, 33, 1023}) {
        for (int c = 0; c < 3; ++c) {
          ASSERT_EQ(img[p * 3 + c], PlaneByte(f, r, p, c))
              << "file " << f << " record " << r << " pixel " << p << " channel " << c;
        }
      }
    }
  }
  ASSERT_OK_AND_ASSIGN(Dataset train, ReadCifar10(tmp_.path(), Split::kTrain));
  EXPECT_EQ(train.size(), 15u);
  ASSERT_OK_AND_ASSIGN(Dataset test, ReadCifar10(tmp_.path(), Split::kTest));
  ASSERT_EQ(test.size(), 3u);
  EXPECT_EQ(test.labels[0], 5);  // File 5, record 0.
  EXPECT_EQ(0, std::memcmp(test.image_data(0), all.image_data(15), 3072));
}

TEST_F(Cifar10FixtureTest, SingleThreadedGivesTheSameResult) {
  Cifar10Options one;
  one.num_threads = 1;
  ASSERT_OK_AND_ASSIGN(Dataset a, ReadCifar10(tmp_.path(), Split::kAll, one));
  ASSERT_OK_AND_ASSIGN(Dataset b, ReadCifar10(tmp_.path(), Split::kAll));
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.labels, b.labels);
}

TEST_F(Cifar10FixtureTest, MissingMetaFallsBackToStandardNames) {
  ASSERT_EQ(std::remove(tmp_.Join("batches.meta.txt").c_str()), 0);
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadCifar10(tmp_.path(), Split::kTest));
  EXPECT_EQ(d.class_names, Cifar10DefaultClassNames());
  EXPECT_EQ(d.class_names[0], "airplane");
}

TEST_F(Cifar10FixtureTest, MalformedMetaIsDataLoss) {
  Write("batches.meta.txt", "a\nb\n\nd\n");
  EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kTest),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("batches.meta.txt"), HasSubstr("line 3 is empty"))));
  Write("batches.meta.txt", "a\nb\n");
  EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kTest),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("holds 2 class names; expected 10")));
}

TEST_F(Cifar10FixtureTest, MissingFileIsNotFound) {
  ASSERT_EQ(std::remove(tmp_.Join("data_batch_4.bin").c_str()), 0);
  EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kAll),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("data_batch_4.bin")));
  // The test split does not need it.
  EXPECT_OK(ReadCifar10(tmp_.path(), Split::kTest).status());
}

TEST_F(Cifar10FixtureTest, TruncatedRecordNamesFileRecordAndOffset) {
  std::string data;
  for (int r = 0; r < kRecords; ++r) data += Record(2, r, 1);
  data.pop_back();
  Write("data_batch_3.bin", data);
  EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kTrain),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("data_batch_3.bin"),
                             HasSubstr("9218 bytes is not a multiple of the 3073-byte record"),
                             HasSubstr("truncated record 2 at byte offset 6146"))));
}

TEST_F(Cifar10FixtureTest, EmptyFileIsDataLoss) {
  Write("test_batch.bin", "");
  EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kTest),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("test_batch.bin"), HasSubstr("file is empty"))));
}

TEST_F(Cifar10FixtureTest, LabelOutOfRangeNamesRecordAndOffset) {
  Write("data_batch_2.bin", Record(1, 0, 3) + Record(1, 1, 10) + Record(1, 2, 4));
  EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kAll),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("data_batch_2.bin"),
                             HasSubstr("record 1 at byte offset 3073 has label 10"),
                             HasSubstr("expected a label in 0..9"))));
}

TEST_F(Cifar10FixtureTest, FirstBadFileIsReportedDeterministically) {
  Write("data_batch_2.bin", Record(1, 0, 200));
  Write("data_batch_5.bin", Record(4, 0, 201));
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kAll),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("data_batch_2.bin")));
  }
}

TEST_F(Cifar10FixtureTest, ChecksumsVerify) {
  EXPECT_OK(VerifyCifar10Checksums(tmp_.path()));
  Cifar10Options verify;
  verify.verify_checksums = true;
  EXPECT_OK(ReadCifar10(tmp_.path(), Split::kAll, verify).status());
}

TEST_F(Cifar10FixtureTest, ChecksumMismatchIsDataLossNamingTheFile) {
  std::string data;
  for (int r = 0; r < kRecords; ++r) data += Record(0, r, 9 - r);  // Same size.
  Write("data_batch_1.bin", data);
  EXPECT_THAT(
      VerifyCifar10Checksums(tmp_.path()),
      StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("data_batch_1.bin"), HasSubstr("MD5"),
                                                  HasSubstr("does not match"))));
  Cifar10Options verify;
  verify.verify_checksums = true;
  EXPECT_THAT(ReadCifar10(tmp_.path(), Split::kTrain, verify),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("data_batch_1.bin")));
  // Only the files of the split are checked, and without the option none.
  EXPECT_OK(ReadCifar10(tmp_.path(), Split::kTest, verify).status());
  EXPECT_OK(ReadCifar10(tmp_.path(), Split::kTrain).status());
}

TEST_F(Cifar10FixtureTest, ChecksumFileProblems) {
  Write("MD5SUMS", "nonsense line\n");
  EXPECT_THAT(VerifyCifar10Checksums(tmp_.path()),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("MD5SUMS"), HasSubstr("line 1"),
                             HasSubstr("expected '<32 hex digits>  <file name>'"))));
  Write("MD5SUMS", "00000000000000000000000000000000  data_batch_1.bin\n");
  EXPECT_THAT(
      VerifyCifar10Checksums(tmp_.path()),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("has no entry for data_batch_2.bin")));
  ASSERT_EQ(std::remove(tmp_.Join("MD5SUMS").c_str()), 0);
  EXPECT_THAT(VerifyCifar10Checksums(tmp_.path()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("MD5SUMS")));
  // Reading with verification but without MD5SUMS: nothing to verify.
  Cifar10Options verify;
  verify.verify_checksums = true;
  EXPECT_OK(ReadCifar10(tmp_.path(), Split::kAll, verify).status());
}

TEST(Cifar10Test, MissingDirectoryIsNotFound) {
  EXPECT_THAT(
      ReadCifar10("/nonexistent/cifar10", Split::kTest),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/cifar10/test_batch.bin")));
}

// The real data set, when present (../shared/data/cifar10 or $LS_CIFAR10_DIR).
class Cifar10RealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<std::string> dir = ::latentsearch::testing::Cifar10Dir();
    if (!dir) GTEST_SKIP() << "CIFAR-10 not found; set LS_CIFAR10_DIR";
    dir_ = *dir;
  }
  std::string dir_;
};

TEST_F(Cifar10RealTest, ChecksumsMatch) { EXPECT_OK(VerifyCifar10Checksums(dir_)); }

TEST_F(Cifar10RealTest, TrainSplitHas5000PerClass) {
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadCifar10(dir_, Split::kTrain));
  EXPECT_EQ(d.size(), 50000u);
  EXPECT_EQ(d.pixels.size(), 50000u * 32 * 32 * 3);
  EXPECT_THAT(ClassCounts(d), ::testing::Each(5000u));
  EXPECT_EQ(d.class_names,
            (std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog",
                                      "frog", "horse", "ship", "truck"}));
  // Image 0 against the raw record: label byte, then R, G, B planes.
  ASSERT_OK_AND_ASSIGN(std::string raw, base::ReadFile(base::JoinPath(dir_, "data_batch_1.bin")));
  EXPECT_EQ(d.labels[0], static_cast<uint8_t>(raw[0]));
  const uint8_t* img = d.image_data(0);
  for (int p = 0; p < 1024; ++p) {
    for (int c = 0; c < 3; ++c) {
      ASSERT_EQ(img[3 * p + c], static_cast<uint8_t>(raw[1 + c * 1024 + p]));
    }
  }
}

TEST_F(Cifar10RealTest, TestSplitRecordTHasClassTMod10) {
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadCifar10(dir_, Split::kTest));
  ASSERT_EQ(d.size(), 10000u);
  EXPECT_THAT(ClassCounts(d), ::testing::Each(1000u));
  for (size_t t = 0; t < d.size(); ++t) {
    ASSERT_EQ(d.labels[t], static_cast<int32_t>(t % 10)) << "record " << t;
  }
}

TEST_F(Cifar10RealTest, AllIsTrainThenTestVerifiedAndNormalizes) {
  Cifar10Options verify;
  verify.verify_checksums = true;
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadCifar10(dir_, Split::kAll, verify));
  ASSERT_EQ(d.size(), 60000u);
  EXPECT_THAT(ClassCounts(d), ::testing::Each(6000u));
  for (size_t t = 0; t < 10000; t += 997) EXPECT_EQ(d.labels[50000 + t], t % 10);
  ASSERT_OK_AND_ASSIGN(Dataset test, ReadCifar10(dir_, Split::kTest));
  EXPECT_EQ(0, std::memcmp(d.image_data(50000), test.image_data(0), 3072));
  ASSERT_OK_AND_ASSIGN(std::vector<float> x, Normalize(test));
  EXPECT_EQ(x.size(), test.pixels.size());
  double sum = 0;
  for (float v : x) sum += v;
  const double mean = sum / static_cast<double>(x.size());
  EXPECT_GT(mean, 0.3);  // CIFAR-10's mean pixel is about 0.47.
  EXPECT_LT(mean, 0.6);
}

}  // namespace
}  // namespace latentsearch::data
