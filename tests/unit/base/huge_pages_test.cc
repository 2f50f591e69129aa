#include "common/base/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

#include "common/testing/test_env.h"
#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

TEST(HugePagesTest, OnlyTheWholeHugePagesInsideTheRangeAreAdvised) {
  const size_t len = 8 * kHugePageBytes;
  void* map = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  const uintptr_t raw = reinterpret_cast<uintptr_t>(map);
  char* aligned = reinterpret_cast<char*>((raw + kHugePageBytes - 1) & ~(kHugePageBytes - 1));
  // Less than one whole huge page: nothing.
  EXPECT_EQ(AdviseHugePages(aligned + 4096, kHugePageBytes), 0u);
  EXPECT_EQ(AdviseHugePages(nullptr, len), 0u);
  // 4 KiB past a boundary, 3 huge pages long: the two whole pages inside.
  const size_t advised = AdviseHugePages(aligned + 4096, 3 * kHugePageBytes);
  if (advised == 0) {
    munmap(map, len);
    GTEST_SKIP() << "this kernel refuses MADV_HUGEPAGE (no transparent huge pages)";
  }
  EXPECT_EQ(advised, 2 * kHugePageBytes);
  EXPECT_TRUE(testing::MappingHasFlag(aligned + kHugePageBytes, "hg"));
  EXPECT_FALSE(testing::MappingHasFlag(aligned, "hg"));  // the partial page before
  EXPECT_FALSE(testing::MappingHasFlag(aligned + 3 * kHugePageBytes, "hg"));
  munmap(map, len);
}

}  // namespace
}  // namespace latentsearch::base
