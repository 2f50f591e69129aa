#include "common/index/storage.h"

#include <string>

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/collection/format_v1.h"

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
  s.versions = {5, 0, 9, 1ull << 60, 3};
  s.tombstones = {{"gone-a", 11}, {"gone-b", 4}};
  s.max_version = 1ull << 61;
  return s;
}

WalRecord Versioned(uint64_t seq) {
  WalRecord r;
  r.seq = seq;
  r.type = WalRecord::Type::kVersioned;
  r.versioned.upserts = Items(20, 2);
  r.versioned.upsert_versions = {7, 1ull << 63};
  r.versioned.delete_ids = {"item-3", "", "item-4"};
  r.versioned.delete_versions = {8, 0, 2};
  return r;
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
  EXPECT_THAT(s.versions, ElementsAre(5, 0, 9, 1ull << 60, 3));
  ASSERT_EQ(s.tombstones.size(), 2u);
  EXPECT_EQ(s.tombstones[1].id, "gone-b");
  EXPECT_EQ(s.tombstones[1].version, 4u);
  EXPECT_EQ(s.max_version, 1ull << 61);
}

TEST(SnapshotTest, WithoutVersionsItWritesVersionZero) {
  SnapshotData d = Snapshot();
  d.versions.clear();
  ASSERT_OK_AND_ASSIGN(SnapshotData s, DecodeSnapshot(EncodeSnapshot(d), "snap"));
  EXPECT_THAT(s.versions, ElementsAre(0, 0, 0, 0, 0));
}

// Files written before versions existed: read as versions 0, no tombstones.
TEST(SnapshotTest, Version1FilesStillDecode) {
  SnapshotData want = Snapshot();
  std::string bytes = format_v1::Snapshot(want.config, 17, Items(0, 5));
  ASSERT_EQ(bytes[8], 1);  // The format version.
  ASSERT_OK_AND_ASSIGN(SnapshotData s, DecodeSnapshot(bytes, "v1"));
  EXPECT_EQ(s.config.name, "c");
  EXPECT_THAT(s.config.metrics, ElementsAre(Metric::kL1, Metric::kCosine));
  EXPECT_EQ(s.config.created_at_us, 123456);
  EXPECT_EQ(s.wal_seq, 17u);
  ASSERT_EQ(s.items.metas.size(), 5u);
  EXPECT_EQ(s.items.metas[4].uri, "uri:4");
  EXPECT_EQ(s.items.vectors, Items(0, 5).vectors);
  EXPECT_THAT(s.versions, ElementsAre(0, 0, 0, 0, 0));
  EXPECT_TRUE(s.tombstones.empty());
  EXPECT_EQ(s.max_version, 0u);
  // Every truncation of it is still DATA_LOSS.
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_THAT(DecodeSnapshot(bytes.substr(0, len), "v1"),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("v1")))
        << "length " << len;
  }
}

// A version-2 payload that decodes only if these checks are made: the
// tombstone ids must ascend strictly and none may be a live item.
TEST(SnapshotTest, BadTombstonesAreDataLoss) {
  SnapshotData unordered = Snapshot();
  std::swap(unordered.tombstones[0], unordered.tombstones[1]);
  EXPECT_THAT(DecodeSnapshot(EncodeSnapshot(unordered), "snap"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("strictly ascending")));
  SnapshotData twice = Snapshot();
  twice.tombstones[1].id = twice.tombstones[0].id;
  EXPECT_THAT(DecodeSnapshot(EncodeSnapshot(twice), "snap"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("strictly ascending")));
  SnapshotData live = Snapshot();
  live.tombstones[1].id = "item-2";
  EXPECT_THAT(DecodeSnapshot(EncodeSnapshot(live), "snap"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("'item-2'"), HasSubstr("both live and a tombstone"))));
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
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("version 9"), HasSubstr("reads versions 1 to 2"))));
  bad_version[8] = 0;
  EXPECT_THAT(DecodeSnapshot(bad_version, "snap"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("version 0")));
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

TEST(WalTest, VersionedRecordsRoundTrip) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  {
    ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, 0));
    ASSERT_OK(w->Append(Upsert(1, 0, 1)));
    ASSERT_OK(w->Append(Versioned(2)));
    WalRecord empty;
    empty.seq = 3;
    empty.type = WalRecord::Type::kVersioned;
    ASSERT_OK(w->Append(empty));
  }
  ASSERT_OK_AND_ASSIGN(WalReadResult r, ReadWal(path, kDim));
  ASSERT_EQ(r.records.size(), 3u);
  const WalRecord& v = r.records[1];
  EXPECT_EQ(v.type, WalRecord::Type::kVersioned);
  EXPECT_EQ(v.seq, 2u);
  ASSERT_EQ(v.versioned.upserts.metas.size(), 2u);
  EXPECT_EQ(v.versioned.upserts.metas[1].id, "item-21");
  EXPECT_EQ(v.versioned.upserts.metas[1].uri, "uri:21");
  EXPECT_EQ(v.versioned.upserts.vectors, Items(20, 2).vectors);
  EXPECT_THAT(v.versioned.upsert_versions, ElementsAre(7, 1ull << 63));
  EXPECT_THAT(v.versioned.delete_ids, ElementsAre("item-3", "", "item-4"));
  EXPECT_THAT(v.versioned.delete_versions, ElementsAre(8, 0, 2));
  EXPECT_EQ(r.records[2].type, WalRecord::Type::kVersioned);
  EXPECT_TRUE(r.records[2].versioned.upserts.metas.empty());
  EXPECT_TRUE(r.records[2].versioned.delete_ids.empty());
}

TEST(WalTest, EveryCutOfAVersionedRecordIsATornTail) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  {
    ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, 0));
    ASSERT_OK(w->Append(Versioned(1)));
  }
  ASSERT_OK_AND_ASSIGN(std::string full, base::ReadFile(path));
  for (size_t cut = kWalHeaderSize; cut < full.size(); ++cut) {
    ASSERT_OK(base::WriteFileAtomically(path, full.substr(0, cut)));
    ASSERT_OK_AND_ASSIGN(WalReadResult r, ReadWal(path, kDim));
    EXPECT_TRUE(r.records.empty()) << "cut at " << cut;
    EXPECT_EQ(r.torn_tail, cut > kWalHeaderSize);
  }
}

TEST(WalTest, AMalformedVersionedBatchIsInternalAndWritesNothing) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, 0));
  for (int which = 0; which < 3; ++which) {
    WalRecord r = Versioned(1);
    if (which == 0) r.versioned.upsert_versions.pop_back();
    if (which == 1) r.versioned.delete_versions.push_back(1);
    if (which == 2) r.versioned.upserts.vectors.pop_back();
    EXPECT_THAT(w->Append(r),
                StatusIs(absl::StatusCode::kInternal, HasSubstr("malformed versioned batch")));
    EXPECT_EQ(w->size(), kWalHeaderSize);
  }
}

// Logs written before versions existed (types 1 and 2 under the same
// header) read as before.
TEST(WalTest, Version1LogBytesStillRead) {
  TempDir tmp;
  std::string path = tmp.Join("wal");
  ASSERT_OK(base::WriteFileAtomically(path, format_v1::LogHeader(kDim) +
                                                format_v1::UpsertRecord(4, Items(0, 2)) +
                                                format_v1::DeleteRecord(5, {"item-0", "x"})));
  ASSERT_OK_AND_ASSIGN(WalReadResult r, ReadWal(path, kDim));
  EXPECT_FALSE(r.torn_tail);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_EQ(r.records[0].type, WalRecord::Type::kUpsert);
  EXPECT_EQ(r.records[0].seq, 4u);
  EXPECT_EQ(r.records[0].upserts.vectors, Items(0, 2).vectors);
  EXPECT_EQ(r.records[1].type, WalRecord::Type::kDelete);
  EXPECT_THAT(r.records[1].delete_ids, ElementsAre("item-0", "x"));
  // What this build appends to such a log reads back with it.
  ASSERT_OK_AND_ASSIGN(auto w, WalWriter::Open(path, kDim, r.valid_bytes));
  ASSERT_OK(w->Append(Versioned(6)));
  ASSERT_OK_AND_ASSIGN(WalReadResult again, ReadWal(path, kDim));
  ASSERT_EQ(again.records.size(), 3u);
  EXPECT_EQ(again.records[2].type, WalRecord::Type::kVersioned);
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
