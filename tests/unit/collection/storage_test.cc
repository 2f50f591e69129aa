#include "common/index/storage.h"

#include <string>

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::index {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 3;

ItemBatch Items(int first, int count) {
  ItemBatch b;
  for (int i = first; i < first + count; ++i) {
    b.metas.push_back({"item-" + std::to_string(i), i % 10, "uri:" + std::to_string(i)});
    for (uint32_t d = 0; d < kDim; ++d) b.vectors.push_back(i + 0.25f * d);
  }
  return b;
}

WalRecord Upsert(uint64_t seq, int first, int count) {
  WalRecord r;
  r.seq = seq;
  r.type = WalRecord::Type::kUpsert;
  r.upserts = Items(first, count);
  return r;
}

SnapshotData Snapshot() {
  SnapshotData s;
  s.config.name = "c";
  s.config.dim = kDim;
  s.config.model_name = "default";
  s.config.model_version = 4;
  s.config.metrics = {Metric::kL1, Metric::kCosine};
  s.config.hnsw_params.m = 8;
  s.config.ef_search = 99;
  s.config.created_at_us = 123456;
  s.wal_seq = 17;
  s.items = Items(0, 5);
  return s;
}

TEST(SnapshotTest, RoundTripsEverything) {
  TempDir tmp;
  std::string path = tmp.Join("snap");
  ASSERT_OK(WriteSnapshot(path, Snapshot()));
  ASSERT_OK_AND_ASSIGN(SnapshotData s, ReadSnapshot(path));
  EXPECT_EQ(s.config.name, "c");
  EXPECT_EQ(s.config.dim, kDim);
  EXPECT_EQ(s.config.model_name, "default");
  EXPECT_EQ(s.config.model_version, 4u);
  EXPECT_THAT(s.config.metrics, ElementsAre(Metric::kL1, Metric::kCosine));
  EXPECT_EQ(s.config.hnsw_params.m, 8u);
  EXPECT_EQ(s.config.ef_search, 99u);
  EXPECT_EQ(s.config.created_at_us, 123456);
  EXPECT_EQ(s.wal_seq, 17u);
  ASSERT_EQ(s.items.metas.size(), 5u);
  EXPECT_EQ(s.items.metas[3].id, "item-3");
  EXPECT_EQ(s.items.metas[3].label, 3);
  EXPECT_EQ(s.items.metas[3].uri, "uri:3");
  EXPECT_EQ(s.items.vectors, Items(0, 5).vectors);
}

TEST(SnapshotTest, EveryTruncationIsDataLossNamingTheFile) {
  TempDir tmp;
  std::string bytes = EncodeSnapshot(Snapshot());
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_THAT(DecodeSnapshot(bytes.substr(0, len), "/x/snap"),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("/x/snap")))
        << "length " << len;
  }
}

TEST(SnapshotTest, FlippedBitIsAChecksumMismatch) {
  std::string bytes = EncodeSnapshot(Snapshot());
  bytes[bytes.size() - 5] ^= 0x10;
  EXPECT_THAT(DecodeSnapshot(bytes, "snap"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum mismatch")));
}

TEST(SnapshotTest, WrongMagicAndVersionAreNamed) {
  std::string bytes = EncodeSnapshot(Snapshot());
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  EXPECT_THAT(DecodeSnapshot(bad_magic, "snap"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("bad magic number"), HasSubstr("LSSNAP01"))));
  std::string bad_version = bytes;
  bad_version[8] = 9;
  EXPECT_THAT(DecodeSnapshot(bad_version, "snap"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("version 9")));
  EXPECT_THAT(DecodeSnapshot(bytes + "junk", "snap"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("trailing bytes")));
}

TEST(WalTest, AppendAndReadBack) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  {
    ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, 0));
    ASSERT_OK(w->Append(Upsert(1, 0, 3)));
    WalRecord del;
    del.seq = 2;
    del.type = WalRecord::Type::kDelete;
    del.delete_ids = {"item-1", "nope"};
    ASSERT_OK(w->Append(del));
    ASSERT_OK(w->Append(Upsert(3, 10, 1)));
  }
  ASSERT_OK_AND_ASSIGN(WalReadResult r, ReadWal(path, kDim));
  EXPECT_FALSE(r.torn_tail);
  ASSERT_EQ(r.records.size(), 3u);
  EXPECT_EQ(r.records[0].upserts.metas[2].id, "item-2");
  EXPECT_EQ(r.records[0].upserts.vectors, Items(0, 3).vectors);
  EXPECT_EQ(r.records[1].type, WalRecord::Type::kDelete);
  EXPECT_THAT(r.records[1].delete_ids, ElementsAre("item-1", "nope"));
  EXPECT_EQ(r.records[2].seq, 3u);
}

// A crash in the middle of an append leaves a partial last record: every
// possible cut point must recover the complete records before it.
TEST(WalTest, TornTailAtEveryOffsetRecoversThePrefix) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  {
    ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, 0));
    ASSERT_OK(w->Append(Upsert(1, 0, 2)));
    ASSERT_OK(w->Append(Upsert(2, 2, 2)));
  }
  ASSERT_OK_AND_ASSIGN(std::string full, base::ReadFile(path));
  // Offset where record 2 starts.
  std::string first_only_path = tmp.Join("wal1");
  {
    ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(first_only_path, kDim, 0));
    ASSERT_OK(w->Append(Upsert(1, 0, 2)));
  }
  ASSERT_OK_AND_ASSIGN(uint64_t record2_at, base::FileSize(first_only_path));
  for (size_t cut = record2_at; cut < full.size(); ++cut) {
    ASSERT_OK(base::WriteFileAtomically(path, full.substr(0, cut)));
    ASSERT_OK_AND_ASSIGN(WalReadResult r, ReadWal(path, kDim));
    ASSERT_EQ(r.records.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(r.valid_bytes, record2_at);
    EXPECT_EQ(r.torn_tail, cut > record2_at);
    // Reopening cuts the tail off; a new append then reads back cleanly.
    ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, r.valid_bytes));
    ASSERT_OK(w->Append(Upsert(2, 7, 1)));
    ASSERT_OK_AND_ASSIGN(WalReadResult again, ReadWal(path, kDim));
    ASSERT_EQ(again.records.size(), 2u);
    EXPECT_EQ(again.records[1].upserts.metas[0].id, "item-7");
  }
}

TEST(WalTest, CorruptRecordFollowedByMoreIsDataLossWithOffset) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  {
    ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, 0));
    ASSERT_OK(w->Append(Upsert(1, 0, 2)));
    ASSERT_OK(w->Append(Upsert(2, 2, 2)));
  }
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFile(path));
  bytes[kWalHeaderSize + 12] ^= 0x01;  // Inside record 1's payload.
  ASSERT_OK(base::WriteFileAtomically(path, bytes));
  EXPECT_THAT(ReadWal(path, kDim),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(path), HasSubstr("record 1"), HasSubstr("byte offset 16"),
                             HasSubstr("checksum"))));
}

TEST(WalTest, WrongDimAndMagicAreDataLoss) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  ASSERT_OK(ResetWal(path, kDim));
  EXPECT_THAT(ReadWal(path, kDim + 1), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("dim 3")));
  ASSERT_OK(base::WriteFileAtomically(path, "NOTALOG-and-more-bytes"));
  EXPECT_THAT(ReadWal(path, kDim),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bad magic number")));
  EXPECT_THAT(ReadWal(tmp.Join("missing"), kDim),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

}  // namespace
}  // namespace latentsearch::index
