// The item uri format (common/items/item_uri.h): DatasetUri and
// ParseItemUri round trip for every data set kind and split, file: uris,
// and the uris ParseItemUri refuses (folders included: a folder's images
// are file: uris).
#include "common/items/item_uri.h"

#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::items {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ItemUriTest, DatasetUriRoundTrips) {
  EXPECT_EQ(DatasetUri(data::DatasetKind::kIdx, data::Split::kTest, 17,
                       "/usr/share/datasets/fashion-mnist"),
            "idx:test:17:/usr/share/datasets/fashion-mnist");
  for (data::DatasetKind kind : {data::DatasetKind::kIdx, data::DatasetKind::kCifar10}) {
    for (data::Split split : {data::Split::kTrain, data::Split::kTest}) {
      for (const std::string dir : {"/data/sets/x", "relative/dir", "/with:colons:in/it"}) {
        const std::string uri = DatasetUri(kind, split, 59999, dir);
        ASSERT_OK_AND_ASSIGN(ItemUri p, ParseItemUri(uri));
        EXPECT_FALSE(p.file) << uri;
        EXPECT_EQ(p.kind, kind) << uri;
        EXPECT_EQ(p.split, split) << uri;
        EXPECT_EQ(p.index, 59999u) << uri;
        EXPECT_EQ(p.path, dir) << uri;
        EXPECT_EQ(p.split_key, uri.substr(0, uri.find(':', uri.find(':') + 1)) + ":" + dir) << uri;
        EXPECT_EQ(DatasetUri(p.kind, p.split, p.index, p.path), uri);
      }
    }
  }
  // Items of one split share its key; other splits and dirs do not.
  ASSERT_OK_AND_ASSIGN(ItemUri a, ParseItemUri("cifar10:train:1:/d"));
  ASSERT_OK_AND_ASSIGN(ItemUri b, ParseItemUri("cifar10:train:2:/d"));
  ASSERT_OK_AND_ASSIGN(ItemUri c, ParseItemUri("cifar10:test:1:/d"));
  EXPECT_EQ(a.split_key, "cifar10:train:/d");
  EXPECT_EQ(a.split_key, b.split_key);
  EXPECT_NE(a.split_key, c.split_key);
}

TEST(ItemUriTest, FileUris) {
  ASSERT_OK_AND_ASSIGN(ItemUri p, ParseItemUri("file:/pics/cats/01.png"));
  EXPECT_TRUE(p.file);
  EXPECT_EQ(p.path, "/pics/cats/01.png");
  EXPECT_EQ(p.split_key, "");
  ASSERT_OK_AND_ASSIGN(p, ParseItemUri("file:/odd:name.png"));
  EXPECT_EQ(p.path, "/odd:name.png");
}

TEST(ItemUriTest, RefusesUrisInNeitherForm) {
  for (const std::string uri :
       {"", "cats/01.png", "idx", "idx:test:17", "idx:test:x:/d", "idx:test:-1:/d",
        "mnist:test:1:/d", "idx:dev:1:/d", "IDX-test-1-/d", "File:/a.png"}) {
    EXPECT_THAT(ParseItemUri(uri).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("item uri '" + uri + "' names no image"),
                               HasSubstr("expected file:PATH or KIND:SPLIT:INDEX:DIR"))))
        << uri;
  }
}

// A folder's images are file: uris, so "folder:..." names no image.
TEST(ItemUriTest, RefusesFolderDatasetUris) {
  EXPECT_THAT(ParseItemUri("folder:all:3:/pics").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no image")));
  EXPECT_THAT(
      ParseItemUri(DatasetUri(data::DatasetKind::kFolder, data::Split::kAll, 3, "/pics")).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace latentsearch::items
