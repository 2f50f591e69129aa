#include "common/data/load.h"

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::data {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

TEST(LoadTest, ParseDatasetKind) {
  EXPECT_THAT(ParseDatasetKind("cifar10"), IsOkAndHolds(DatasetKind::kCifar10));
  EXPECT_THAT(ParseDatasetKind("idx"), IsOkAndHolds(DatasetKind::kIdx));
  EXPECT_THAT(ParseDatasetKind("folder"), IsOkAndHolds(DatasetKind::kFolder));
  EXPECT_EQ(DatasetKindName(DatasetKind::kIdx), "idx");
  EXPECT_THAT(ParseDatasetKind("mnist"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("expected cifar10, idx or folder")));
}

TEST(LoadTest, DispatchesToTheReader) {
  TempDir tmp;
  ASSERT_OK(base::MakeDirs(tmp.Join("a")));
  ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(image::Image(3, 3, 3)));
  ASSERT_OK(base::WriteFileAtomically(tmp.Join("a/x.png"), png));
  DatasetSpec spec;
  spec.kind = DatasetKind::kFolder;
  spec.path = tmp.path();
  spec.folder.height = 5;
  spec.folder.width = 5;
  ASSERT_OK_AND_ASSIGN(Dataset d, LoadDataset(spec));
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.class_names[0], "a");

  spec.split = Split::kTrain;
  EXPECT_THAT(LoadDataset(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no train split")));
  spec.kind = DatasetKind::kCifar10;
  EXPECT_THAT(LoadDataset(spec),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("data_batch_1.bin")));
  spec.kind = DatasetKind::kIdx;
  EXPECT_THAT(LoadDataset(spec),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("train-images-idx3-ubyte")));
}

}  // namespace
}  // namespace latentsearch::data
