// Append-only rows of `dim` floats at addresses that never change.
//
// The Collection's HNSW graphs read vectors in place (hnsw.h, RowSource)
// instead of each keeping a copy, and its background builder reads them
// without holding the collection's lock while writers append. A growing
// std::vector would move the rows; this store reserves address space once
// (mmap, PROT_NONE: no memory and no commit charge) and makes the reserved
// pages readable and writable as rows are appended, so a row's address is
// fixed from its append to the store's destruction. Only pages written to
// become resident.
//
// The reservation is `max_bytes` (rounded down to whole rows and at most
// 2^32 - 1 rows). Where the kernel refuses a reservation that large (a
// ulimit -v, or a sanitizer's narrower address space) the store halves it,
// down to 64 MiB, and reports the capacity it got.
// Thread-safety: Append needs external exclusion against other Appends;
// rows [0, size) may be read concurrently with an Append by threads that
// learnt `size` through the same external synchronisation (the Collection's
// mutex) — Append never touches them.
#ifndef LATENTSEARCH_COMMON_INDEX_VECTOR_STORE_H_
#define LATENTSEARCH_COMMON_INDEX_VECTOR_STORE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace latentsearch::index {

class VectorStore {
 public:
  // An empty store; Init must be called before Append.
  VectorStore() = default;
  ~VectorStore();
  VectorStore(const VectorStore&) = delete;
  VectorStore& operator=(const VectorStore&) = delete;

  // Reserves room for up to max_bytes / (dim · 4) rows. INVALID_ARGUMENT for
  // dim 0; RESOURCE_EXHAUSTED when not even 64 MiB (or one row) of address
  // space can be reserved.
  absl::Status Init(size_t dim, uint64_t max_bytes);

  // Makes room for `count` more rows now (the pages become writable), so
  // that Appends of up to that many rows cannot fail: callers that log a
  // write before applying it reserve first. RESOURCE_EXHAUSTED when they
  // do not fit the reservation or the kernel refuses the memory.
  absl::Status Reserve(size_t count);

  // Appends `count` rows (count × dim floats); errors as Reserve's, with
  // nothing appended.
  absl::Status Append(const float* rows, size_t count);

  // Whether `count` more rows fit the reservation.
  bool HasRoomFor(size_t count) const { return count <= capacity_ - size_; }

  const float* data() const { return base_; }
  const float* row(size_t i) const { return base_ + i * dim_; }
  size_t size() const { return size_; }
  size_t dim() const { return dim_; }
  // Rows the reservation holds.
  size_t capacity() const { return capacity_; }
  // Bytes of the rows appended (what is resident at most, plus a page).
  uint64_t bytes() const { return static_cast<uint64_t>(size_) * dim_ * sizeof(float); }

 private:
  float* base_ = nullptr;
  size_t dim_ = 0;
  size_t size_ = 0;
  size_t capacity_ = 0;        // rows
  size_t reserved_bytes_ = 0;  // of the mapping
  size_t writable_bytes_ = 0;  // prefix made readable and writable
};

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_VECTOR_STORE_H_
