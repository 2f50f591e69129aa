// HybridClock from several threads (the ThreadSanitizer build runs this:
// label tsan): every Now() value is unique and each thread sees its own
// values increase, while another thread observes remote timestamps.
#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "common/cluster/hlc.h"
#include "gtest/gtest.h"

namespace latentsearch::cluster {
namespace {

TEST(HlcConcurrencyTest, ValuesAreUniqueAndIncreasingPerThread) {
  std::atomic<int64_t> us{1000};
  HybridClock clock([&us] { return us.load(); });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<uint64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      seen[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        if (t == 0 && i % 1000 == 0) us.fetch_add(1);
        seen[t].push_back(clock.Now());
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 1000; ++i) clock.Observe(PackHlc(1000 + i / 10, 0));
  });
  for (std::thread& th : threads) th.join();
  std::vector<uint64_t> all;
  for (const auto& values : seen) {
    EXPECT_TRUE(std::is_sorted(values.begin(), values.end()));
    EXPECT_EQ(std::adjacent_find(values.begin(), values.end()), values.end());
    all.insert(all.end(), values.begin(), values.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a duplicate timestamp";
  EXPECT_GE(clock.Last(), all.back());
  EXPECT_GE(clock.Last(), PackHlc(1099, 0));  // The last one observed.
  const uint64_t last = clock.Last();
  EXPECT_GT(clock.Now(), last);
}

}  // namespace
}  // namespace latentsearch::cluster
