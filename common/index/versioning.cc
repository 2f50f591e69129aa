// Last-writer-wins order and replica entry hash (see versioning.h).
// Thread-safety: pure functions.
#include "common/index/versioning.h"

#include <cstring>

namespace latentsearch::index {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t FnvBytes(uint64_t h, const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

// Little-endian bytes of `v`, independent of the host's byte order.
uint64_t FnvLittleEndian(uint64_t h, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= kFnvPrime;
  }
  return h;
}

uint64_t Fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

int Sign(int v) { return (v > 0) - (v < 0); }

}  // namespace

int CompareWrites(const WriteKey& a, const WriteKey& b, size_t dim) {
  if (a.version != b.version) return a.version < b.version ? -1 : 1;
  if (a.deleted != b.deleted) return a.deleted ? 1 : -1;
  if (a.deleted) return 0;
  if (dim > 0) {
    int c = std::memcmp(a.vector, b.vector, dim * sizeof(float));
    if (c != 0) return Sign(c);
  }
  if (a.label != b.label) return a.label < b.label ? -1 : 1;
  return Sign(a.uri.compare(b.uri));
}

uint64_t ReplicaEntryHash(absl::string_view id, uint64_t version, bool deleted) {
  uint64_t h = kFnvOffset;
  h = FnvLittleEndian(h, id.size(), 4);
  h = FnvBytes(h, reinterpret_cast<const unsigned char*>(id.data()), id.size());
  h = FnvLittleEndian(h, version, 8);
  h = FnvLittleEndian(h, deleted ? 1 : 0, 1);
  return Fmix64(h);
}

}  // namespace latentsearch::index
