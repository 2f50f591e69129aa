#include "common/index/vector_store.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/base/huge_pages.h"

namespace latentsearch::index {
namespace {

constexpr uint64_t kMinReserveBytes = uint64_t{64} << 20;
// Pages are made writable in whole huge pages, at least this much at a
// time (fewer mprotect calls; untouched pages stay non-resident anyway).
constexpr size_t kCommitStep = base::kHugePageBytes;

size_t PageSize() {
  const long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<size_t>(p) : 4096;
}

size_t RoundUp(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Reserves `len` bytes of address space starting on a huge-page boundary
// (so that every whole 2 MiB of rows can be one TLB entry), or nullptr.
void* ReserveAligned(size_t len) {
  const size_t slack = base::kHugePageBytes;
  void* p =
      mmap(nullptr, len + slack, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  char* raw = static_cast<char*>(p);
  char* aligned = reinterpret_cast<char*>(RoundUp(reinterpret_cast<uintptr_t>(raw), slack));
  if (aligned > raw) munmap(raw, aligned - raw);
  char* end = aligned + len;
  if (raw + len + slack > end) munmap(end, raw + len + slack - end);
  return aligned;
}

}  // namespace

VectorStore::~VectorStore() {
  if (base_ != nullptr) munmap(base_, reserved_bytes_);
}

absl::Status VectorStore::Init(size_t dim, uint64_t max_bytes) {
  if (dim == 0) return absl::InvalidArgumentError("VectorStore: dim must be >= 1");
  if (base_ != nullptr) return absl::FailedPreconditionError("VectorStore: already initialised");
  const uint64_t row_bytes = uint64_t{dim} * sizeof(float);
  const uint64_t max_rows = std::numeric_limits<uint32_t>::max();
  uint64_t want = std::min<uint64_t>(max_bytes / row_bytes, max_rows) * row_bytes;
  want = std::max<uint64_t>(want, row_bytes);
  const uint64_t floor = std::min<uint64_t>(want, std::max<uint64_t>(kMinReserveBytes, row_bytes));
  const size_t page = PageSize();
  int err = 0;
  for (uint64_t bytes = want; bytes >= floor; bytes /= 2) {
    const size_t len = RoundUp(static_cast<size_t>(bytes), page);
    void* p = ReserveAligned(len);
    if (p != nullptr) {
      // Rows are read at random (graph walks), so all but the first 2 MiB
      // ask for huge pages: a small collection keeps its 4 KiB pages.
      if (len > base::kHugePageBytes) {
        base::AdviseHugePages(static_cast<char*>(p) + base::kHugePageBytes,
                              len - base::kHugePageBytes);
      }
      base_ = static_cast<float*>(p);
      dim_ = dim;
      reserved_bytes_ = len;
      capacity_ = static_cast<size_t>(bytes / row_bytes);
      return absl::OkStatus();
    }
    err = errno;
    if (bytes == floor) break;
    if (bytes / 2 < floor) bytes = floor * 2;  // try the floor itself last
  }
  return absl::ResourceExhaustedError(absl::StrCat("cannot reserve address space for vectors of ",
                                                   dim, " floats (", want, " bytes wanted, ", floor,
                                                   " at least): ", std::strerror(err)));
}

absl::Status VectorStore::Reserve(size_t count) {
  if (count == 0) return absl::OkStatus();
  if (base_ == nullptr) return absl::FailedPreconditionError("VectorStore: not initialised");
  if (!HasRoomFor(count)) {
    return absl::ResourceExhaustedError(absl::StrCat("the collection holds ", size_, " vectors of ",
                                                     dim_, " floats and has room for ", capacity_,
                                                     " (its reservation of ", reserved_bytes_,
                                                     " bytes); ", count, " more do not fit"));
  }
  const size_t row_bytes = dim_ * sizeof(float);
  const size_t need = (size_ + count) * row_bytes;
  if (need > writable_bytes_) {
    size_t grow = std::max(need, std::max(writable_bytes_ * 2, writable_bytes_ + kCommitStep));
    grow = std::min(RoundUp(grow, kCommitStep), reserved_bytes_);
    if (mprotect(reinterpret_cast<char*>(base_) + writable_bytes_, grow - writable_bytes_,
                 PROT_READ | PROT_WRITE) != 0) {
      const int err = errno;
      return absl::ResourceExhaustedError(absl::StrCat("cannot commit memory for ", count,
                                                       " more vectors of ", dim_,
                                                       " floats: ", std::strerror(err)));
    }
    writable_bytes_ = grow;
  }
  return absl::OkStatus();
}

absl::Status VectorStore::Append(const float* rows, size_t count) {
  if (count == 0) return absl::OkStatus();
  if (absl::Status s = Reserve(count); !s.ok()) return s;
  std::memcpy(base_ + size_ * dim_, rows, count * dim_ * sizeof(float));
  size_ += count;
  return absl::OkStatus();
}

}  // namespace latentsearch::index
