#pragma once

#include <cstddef>

namespace latentsearch::base {

// The size of a transparent huge page on x86-64 (2 MiB).
inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// Asks the kernel to back [p, p + bytes) with transparent huge pages
// (madvise MADV_HUGEPAGE on the whole 2 MiB pages inside the range; a
// smaller range is left alone). A graph search or a scan touches rows at
// random, and with 4 KiB pages nearly every such touch misses the TLB.
// Advice only: where the kernel has huge pages off, or refuses, nothing
// changes, so there is nothing to report. Returns the bytes advised.
size_t AdviseHugePages(void* p, size_t bytes);

}  // namespace latentsearch::base
