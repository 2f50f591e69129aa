// Inputs the fuzz targets of tests/fuzz crashed on, replayed through the
// same APIs. See tests/fuzz/README.md for the runs that found them.
#include <string>
#include <vector>

#include "common/index/storage.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch {
namespace {

// collection_fuzzer / search_request_fuzzer, UBSan: "null pointer passed as
// argument 1" in the snapshot reader's Floats() for a snapshot with no
// items (memcpy into the empty vector's null data()). Every new collection
// starts with such a snapshot.
TEST(FuzzRegressionTest, SnapshotWithoutItemsDecodes) {
  index::SnapshotData empty;
  empty.config.name = "empty";
  empty.config.dim = 8;
  ASSERT_OK_AND_ASSIGN(index::SnapshotData back,
                       index::DecodeSnapshot(index::EncodeSnapshot(empty), "empty"));
  EXPECT_EQ(back.config.dim, 8u);
  EXPECT_TRUE(back.items.metas.empty());
  EXPECT_TRUE(back.items.vectors.empty());
}

}  // namespace
}  // namespace latentsearch
