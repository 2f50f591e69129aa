// Inputs the fuzz targets of tests/fuzz crashed on, replayed through the
// same APIs. See tests/fuzz/README.md for the runs that found them.
#include <zlib.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/base/file.h"
#include "common/index/collection.h"
#include "common/index/storage.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
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

// collection_fuzzer, timeout: a (CRC-valid) snapshot whose config had HNSW
// on with m = 0 opened fine, then HnswIndex::Build refused the parameters
// and the builder thread requested the same build again, forever (a core
// at 100 %, WaitForIndexes never returned). The same for a config without
// metrics. Such a config is now DATA_LOSS when the snapshot is read.
index::SnapshotData OneItem() {
  index::SnapshotData d;
  d.config.name = "bad";
  d.config.dim = 2;
  d.items.metas.push_back({"a", 0, ""});
  d.items.vectors = {1.0f, 2.0f};
  return d;
}

TEST(FuzzRegressionTest, SnapshotWithImpossibleHnswParametersIsDataLoss) {
  for (auto [m, efc] :
       {std::pair<size_t, size_t>{0, 200}, {1, 200}, {129, 200}, {16, 0}, {16, 4097}}) {
    index::SnapshotData d = OneItem();
    d.config.hnsw = true;
    d.config.hnsw_params.m = m;
    d.config.hnsw_params.ef_construction = efc;
    EXPECT_THAT(index::DecodeSnapshot(index::EncodeSnapshot(d), "bad"),
                ::latentsearch::testing::StatusIs(absl::StatusCode::kDataLoss,
                                                  ::testing::HasSubstr("HNSW m")))
        << m << " " << efc;
  }
  index::SnapshotData ok = OneItem();  // Off: the parameters are not used.
  ok.config.hnsw = false;
  ok.config.hnsw_params.m = 0;
  EXPECT_OK(index::DecodeSnapshot(index::EncodeSnapshot(ok), "ok").status());
}

TEST(FuzzRegressionTest, SnapshotWithoutOrWithRepeatedMetricsIsDataLoss) {
  index::SnapshotData d = OneItem();
  d.config.metrics.clear();
  EXPECT_THAT(index::DecodeSnapshot(index::EncodeSnapshot(d), "bad"),
              ::latentsearch::testing::StatusIs(absl::StatusCode::kDataLoss,
                                                ::testing::HasSubstr("no metrics")));
  d.config.metrics = {index::Metric::kL2, index::Metric::kL2};
  EXPECT_THAT(index::DecodeSnapshot(index::EncodeSnapshot(d), "bad"),
              ::latentsearch::testing::StatusIs(absl::StatusCode::kDataLoss,
                                                ::testing::HasSubstr("twice")));
}

// The input the fuzzer found, as a collection directory: Open must not
// leave a builder spinning (before the fix this test hung in
// WaitForIndexes).
TEST(FuzzRegressionTest, FoundSnapshotDoesNotOpenIntoAnEndlessRebuild) {
  ASSERT_OK_AND_ASSIGN(std::string input,
                       base::ReadFile(::latentsearch::testing::SourceDir() +
                                      "/tests/fuzz/regressions/collection_fuzzer/"
                                      "timeout-builder-retries-invalid-hnsw-params"));
  // Layout (tests/fuzz/index/collection_fuzzer.cc): u8 flags | u32 len |
  // snapshot | log. Its flags ask the harness to fix the snapshot's CRC.
  ASSERT_GT(input.size(), 5u);
  uint32_t len = 0;
  std::memcpy(&len, input.data() + 1, 4);
  std::string snapshot = input.substr(5, len);
  ASSERT_GE(snapshot.size(), 24u);
  const uint64_t payload = snapshot.size() - 24;
  std::memcpy(snapshot.data() + 12, &payload, 8);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(snapshot.data() + 24),
            static_cast<uInt>(payload)));
  std::memcpy(snapshot.data() + 20, &crc, 4);
  ::latentsearch::testing::TempDir tmp;
  ASSERT_OK(base::WriteFileAtomically(index::Collection::SnapshotPath(tmp.path()), snapshot));
  index::CollectionOptions options;
  options.dir = tmp.path();
  options.num_threads = 1;
  absl::StatusOr<std::unique_ptr<index::Collection>> c = index::Collection::Open(options);
  if (c.ok()) (*c)->WaitForIndexes();  // Must return.
  EXPECT_THAT(c.status(), ::latentsearch::testing::StatusIs(absl::StatusCode::kDataLoss,
                                                            ::testing::HasSubstr("HNSW m")));
}

}  // namespace
}  // namespace latentsearch
