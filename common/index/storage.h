// On-disk formats of a collection (STYLE.md point 12): a snapshot file and
// a write-ahead log, both with a magic number, a format version and CRC-32
// checksums.
//
// Durability contract: an Upsert, Delete or ApplyVersioned batch is appended
// to the log and the log is fsynced *before* the change is applied and
// acknowledged. A snapshot holds the live items (with their versions) and
// the tombstones up to a log sequence number; it is published atomically
// (temp + fsync + rename + directory fsync), after which the log restarts
// empty. Loading = snapshot, then every log record with a larger sequence
// number.
//
// A log whose last record is incomplete or fails its checksum (the process
// died while appending; that record was never acknowledged) is cut back to
// its last good record. Any other damage — bad magic, a checksum failure
// before the last record, a truncated snapshot — is DATA_LOSS naming the
// file, the offset and what was expected.
//
// Snapshot file:  "LSSNAP01" | u32 version (2; 1 is still read) |
//                 u64 payload_bytes | u32 crc32(payload) | payload
//   payload v2: config | u64 wal_seq | u64 n | n × item meta |
//               n × dim floats | n × u64 item version | u64 max_version |
//               u64 t | t × (string id | u64 version)   (tombstones, ids
//               strictly ascending byte-wise, none of them a live item)
//   payload v1: config | u64 wal_seq | u64 n | n × item meta | n × dim floats
//               (read as versions 0, max_version 0, no tombstones)
//   item meta:  string id | i32 label | string uri
// Log file:       "LSWAL001" | u32 version=1 | u32 dim | record*
//   record: u32 payload_bytes | u32 crc32(payload) | payload
//   payload: u64 seq | u8 type | body
//     type 1 (upsert):    u32 n | n × item meta | n × dim floats
//     type 2 (delete):    u32 n | n × string id
//     type 3 (versioned): u32 n | n × item meta | n × dim floats |
//                         n × u64 version | u32 d | d × (string id | u64 version)
//   Type 3 came with snapshot version 2; the log header stays version 1
//   (logs written before it hold only types 1 and 2 and still load; a build
//   before it refuses type 3 as an unknown record type).
// All integers little-endian; strings are u32 length + bytes.
//
// Tombstones are kept in snapshots as they are in memory: this build never
// drops one. Dropping them safely needs a garbage collection with a grace
// period longer than any write can be delayed, which is future work.
//
// Thread-safety: WalWriter needs external synchronisation; the free
// functions are thread-safe for distinct paths.
#ifndef LATENTSEARCH_COMMON_INDEX_STORAGE_H_
#define LATENTSEARCH_COMMON_INDEX_STORAGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/index/collection_types.h"

namespace latentsearch::index {

// Bytes of a log file's header (an empty log's size).
inline constexpr uint64_t kWalHeaderSize = 16;

struct SnapshotData {
  CollectionConfig config;
  // Every log record with seq <= wal_seq is contained in the snapshot.
  uint64_t wal_seq = 0;
  ItemBatch items;  // live items, in slot order
  // One per item (the write that put it there; 0 = unversioned), or empty
  // when writing = all 0. Reading always fills one per item.
  std::vector<uint64_t> versions;
  // Deleted ids remembered with their delete's version, ascending by id.
  std::vector<Tombstone> tombstones;
  // Greatest version of any write applied (kept even when that item is
  // gone).
  uint64_t max_version = 0;
};

// Serialises / publishes / reads a snapshot.
std::string EncodeSnapshot(const SnapshotData& data);
absl::StatusOr<SnapshotData> DecodeSnapshot(const std::string& bytes,
                                            const std::string& path_for_errors);
absl::Status WriteSnapshot(const std::string& path, const SnapshotData& data);
absl::StatusOr<SnapshotData> ReadSnapshot(const std::string& path);

struct WalRecord {
  enum class Type : uint8_t { kUpsert = 1, kDelete = 2, kVersioned = 3 };
  uint64_t seq = 0;
  Type type = Type::kUpsert;
  ItemBatch upserts;                    // kUpsert
  std::vector<std::string> delete_ids;  // kDelete
  VersionedWriteBatch versioned;        // kVersioned
};

struct WalReadResult {
  std::vector<WalRecord> records;
  // Bytes of the file that hold complete, valid records (header included).
  uint64_t valid_bytes = 0;
  // True when bytes after valid_bytes were dropped (a torn last append).
  bool torn_tail = false;
};

// Reads every valid record of the log at `path` for vectors of `dim`.
// NOT_FOUND if the file does not exist.
absl::StatusOr<WalReadResult> ReadWal(const std::string& path, uint32_t dim);

class WalWriter {
 public:
  // Opens `path` for appending after `valid_bytes` (from ReadWal; bytes
  // beyond are cut off), or creates it with a header when it does not exist
  // (valid_bytes ignored). The directory is fsynced after creation.
  static absl::StatusOr<std::unique_ptr<WalWriter>> Open(const std::string& path, uint32_t dim,
                                                         uint64_t valid_bytes);
  ~WalWriter();

  // Appends one record and fsyncs. On failure the file is cut back to its
  // previous length, so a failed append leaves no partial record. A
  // versioned record must pass CheckVersionedBatch (else INTERNAL, nothing
  // written).
  absl::Status Append(const WalRecord& record);

  // Bytes in the log file.
  uint64_t size() const { return size_; }

 private:
  WalWriter(int fd, std::string path, uint32_t dim, uint64_t size);
  int fd_;
  std::string path_;
  uint32_t dim_;
  uint64_t size_;
};

// OK when `batch` has one version per upsert and per delete and dim floats
// per upsert; else INTERNAL (a caller's bug: the search service builds
// batches from validated requests).
absl::Status CheckVersionedBatch(const VersionedWriteBatch& batch, uint32_t dim);

// Creates an empty log at `path`, replacing any existing one atomically.
absl::Status ResetWal(const std::string& path, uint32_t dim);

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_STORAGE_H_
