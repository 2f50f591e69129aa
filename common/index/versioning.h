// Last-writer-wins for the replicas of a sharded collection (docs/cluster.md):
// the total order on the writes to one id, and the stable hash of one
// (id, version, deleted) entry that replica digests XOR together.
//
// Order of two writes to the same id (greater wins):
//   1. the greater version (a 64-bit hybrid logical clock from the router);
//   2. at equal versions, a delete beats an upsert;
//   3. between two upserts, the greater vector compared as raw float bytes
//      (memcmp over dim × 4 bytes), then the greater label, then the greater
//      uri (byte-wise).
// Two deletes at one version, or two upserts equal in all of these, are the
// same write. The order depends only on the writes, never on their arrival,
// so replicas that apply the same writes in any order agree.
//
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_INDEX_VERSIONING_H_
#define LATENTSEARCH_COMMON_INDEX_VERSIONING_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace latentsearch::index {

// One write to an id as the order above sees it (the id itself is not
// part of it: only writes to the same id are compared). Non-owning.
struct WriteKey {
  uint64_t version = 0;
  bool deleted = false;
  // Upserts only: dim floats, the label and the uri.
  const float* vector = nullptr;
  int32_t label = -1;
  absl::string_view uri;
};

// < 0, 0 or > 0 as `a` orders before, equal to or after `b`; vectors have
// `dim` floats.
int CompareWrites(const WriteKey& a, const WriteKey& b, size_t dim);

// A stable 64-bit hash of one replica entry, the same in every process and
// build: FNV-1a 64 over [u32 little-endian id length | id bytes | u64
// little-endian version | u8 deleted (0 or 1)], then MurmurHash3's fmix64
// finaliser (so that XORs of hashes mix all bits). A replica's digest is the
// XOR of this over its live items and tombstones.
uint64_t ReplicaEntryHash(absl::string_view id, uint64_t version, bool deleted);

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_VERSIONING_H_
