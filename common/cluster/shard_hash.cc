// FNV-1a 64 and the id -> shard mapping (shard_hash.h).
// Thread-safety: pure functions.
#include "common/cluster/shard_hash.h"

namespace latentsearch::cluster {

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = kFnv1a64OffsetBasis;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnv1a64Prime;  // Wraps modulo 2^64, as FNV specifies.
  }
  return hash;
}

uint32_t ShardOf(std::string_view id, uint32_t shards) {
  if (shards <= 1) return 0;
  return static_cast<uint32_t>(Fnv1a64(id) % shards);
}

}  // namespace latentsearch::cluster
