#include "common/rpc/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::rpc {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterGaugeAndHistogramRenderInTextFormat) {
  MetricsRegistry registry;
  CounterFamily* things = registry.AddCounter("ls_things_total", "Things done.", {"kind", "color"});
  things->Get({"a", "red"})->Increment();
  things->Get({"a", "red"})->Increment(2);
  things->Get({"b", "blue"})->Increment(-5);  // Ignored: counters never go down.
  GaugeFamily* size = registry.AddGauge("ls_size_bytes", "Size.", {});
  size->Get({})->Set(10);
  size->Get({})->Add(-2.5);
  HistogramFamily* latency =
      registry.AddHistogram("ls_latency_seconds", "Latency.", {"op"}, {0.1, 1});
  latency->Get({"get"})->Observe(0.05);
  latency->Get({"get"})->Observe(0.1);  // le is inclusive.
  latency->Get({"get"})->Observe(0.5);
  latency->Get({"get"})->Observe(7);

  const std::string page = registry.Render();
  EXPECT_THAT(page, HasSubstr("# HELP ls_things_total Things done.\n"
                              "# TYPE ls_things_total counter\n"));
  EXPECT_THAT(page, HasSubstr("ls_things_total{kind=\"a\",color=\"red\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("ls_things_total{kind=\"b\",color=\"blue\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE ls_size_bytes gauge\nls_size_bytes 7.5\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE ls_latency_seconds histogram\n"));
  // prometheus-cpp writes _count and _sum before the buckets.
  EXPECT_THAT(page, HasSubstr("ls_latency_seconds_count{op=\"get\"} 4\n"
                              "ls_latency_seconds_sum{op=\"get\"} 7.65\n"
                              "ls_latency_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"
                              "ls_latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
                              "ls_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"));
}

TEST(MetricsTest, FamiliesInRegistrationOrderLabelsAsDeclaredSeriesSorted) {
  MetricsRegistry registry;
  // prometheus-cpp groups families by type and sorts labels by name; the
  // page keeps the order of the code instead.
  registry.AddHistogram("ls_h", "H.", {}, {1});
  GaugeFamily* gauge = registry.AddGauge("ls_g", "G.", {"zeta", "alpha"});
  registry.AddCounter("ls_c_total", "C.", {})->Get({})->Increment();
  gauge->Get({"b", "x"})->Set(2);
  gauge->Get({"a", "y"})->Set(1);
  const std::string page = registry.Render();
  const size_t h = page.find("# TYPE ls_h histogram\n");
  const size_t g = page.find("# TYPE ls_g gauge\n");
  const size_t c = page.find("# TYPE ls_c_total counter\n");
  ASSERT_NE(h, std::string::npos) << "a family without series keeps HELP/TYPE:\n" << page;
  ASSERT_NE(g, std::string::npos) << page;
  ASSERT_NE(c, std::string::npos) << page;
  EXPECT_LT(h, g);
  EXPECT_LT(g, c);
  EXPECT_THAT(page, HasSubstr("ls_g{zeta=\"a\",alpha=\"y\"} 1\n"
                              "ls_g{zeta=\"b\",alpha=\"x\"} 2\n"));
}

TEST(MetricsTest, CallbackSeriesThatDisappearAreNoLongerRendered) {
  MetricsRegistry registry;
  std::vector<GaugeSample> samples = {{{"c1"}, 1}, {{"c2"}, 2}};
  registry.AddCallbackGauge("ls_items", "Items.", {"collection"}, [&samples] { return samples; });
  EXPECT_THAT(registry.Render(), HasSubstr("ls_items{collection=\"c2\"} 2\n"));
  samples.pop_back();  // Collection c2 deleted.
  const std::string page = registry.Render();
  EXPECT_THAT(page, HasSubstr("ls_items{collection=\"c1\"} 1\n"));
  EXPECT_THAT(page, Not(HasSubstr("c2")));
}

TEST(MetricsTest, CallbackGaugeIsComputedAtEveryRender) {
  MetricsRegistry registry;
  int calls = 0;
  registry.AddCallbackGauge("ls_items", "Items.", {"collection"}, [&calls] {
    ++calls;
    return std::vector<GaugeSample>{{{"c1"}, double(calls)}, {{"c2"}, 42}};
  });
  EXPECT_THAT(registry.Render(), HasSubstr("ls_items{collection=\"c1\"} 1\n"));
  const std::string second = registry.Render();
  EXPECT_THAT(second, HasSubstr("ls_items{collection=\"c1\"} 2\n"));
  EXPECT_THAT(second, HasSubstr("ls_items{collection=\"c2\"} 42\n"));
}

TEST(MetricsTest, CallbackCounterRendersAsCounter) {
  MetricsRegistry registry;
  registry.AddCallbackCounter("ls_dropped_total", "Dropped.", {}, [] {
    return std::vector<GaugeSample>{{{}, 7}};
  });
  EXPECT_THAT(registry.Render(),
              HasSubstr("# TYPE ls_dropped_total counter\nls_dropped_total 7\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeHelp("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
  MetricsRegistry registry;
  // prometheus-cpp 1.0.1 escapes label values but writes help verbatim: a
  // raw newline there would end the HELP line and break the page.
  registry.AddGauge("ls_g", "Line one\nline two \\ end.", {"name"})->Get({"a\"b\\c\nd"})->Set(1);
  const std::string page = registry.Render();
  EXPECT_THAT(page, HasSubstr("# HELP ls_g Line one\\nline two \\\\ end.\n"));
  EXPECT_THAT(page, HasSubstr("ls_g{name=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsTest, FormatsValuesExactly) {
  MetricsRegistry registry;
  GaugeFamily* g = registry.AddGauge("ls_v", "V.", {"k"});
  g->Get({"zero"})->Set(0);
  g->Get({"neg"})->Set(-3);
  g->Get({"quarter"})->Set(0.25);
  g->Get({"tenth"})->Set(0.1);
  g->Get({"third"})->Set(1.0 / 3);
  g->Get({"big"})->Set(1e20);
  g->Get({"pinf"})->Set(std::numeric_limits<double>::infinity());
  g->Get({"ninf"})->Set(-std::numeric_limits<double>::infinity());
  g->Get({"nan"})->Set(std::nan(""));
  const std::string page = registry.Render();
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"zero\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"neg\"} -3\n"));
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"quarter\"} 0.25\n"));
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"tenth\"} 0.1\n"));
  // Shortest form that reads back to the same double.
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"third\"} 0.3333333333333333\n"));
  EXPECT_EQ(std::stod("0.3333333333333333"), 1.0 / 3);
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"big\"} 1e+20\n"));
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"pinf\"} +Inf\n"));
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"ninf\"} -Inf\n"));
  // prometheus-cpp spells it "Nan"; Prometheus and python's float() accept
  // any case.
  EXPECT_THAT(page, HasSubstr("ls_v{k=\"nan\"} Nan\n"));
}

TEST(MetricsTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(0, 5, 3), (std::vector<double>{0, 5, 10}));
  const std::vector<double> latency = LatencyBuckets();
  ASSERT_FALSE(latency.empty());
  for (size_t i = 1; i < latency.size(); ++i) EXPECT_LT(latency[i - 1], latency[i]);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  CounterFamily* counter = registry.AddCounter("ls_c_total", "C.", {"t"});
  HistogramFamily* hist = registry.AddHistogram("ls_h", "H.", {}, {0.5});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter->Get({"shared"})->Increment();
        hist->Get({})->Observe(t % 2 == 0 ? 0.25 : 1.0);
        if (i % 1000 == 0) registry.Render();  // Renders race with updates.
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter->Get({"shared"})->value(), kThreads * kPerThread);
  const Histogram::Snapshot s = hist->Get({})->snapshot();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads / 2} * kPerThread);
  EXPECT_DOUBLE_EQ(s.sum, (0.25 + 1.0) * (kThreads / 2) * kPerThread);
}

TEST(MetricsDeathTest, MisuseAbortsWithAMessage) {
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("bad name", "x", {});
      },
      "must match");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("ls_x", "x", {});
        r.AddGauge("ls_x", "x", {});
      },
      "registered twice");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("ls_x", "x", {"a"})->Get({"1", "2"});
      },
      "1 label");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddHistogram("ls_h", "x", {"le"}, {1});
      },
      "reserved");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddHistogram("ls_h", "x", {}, {2, 1});
      },
      "strictly increasing");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddGauge("__ls_g", "x", {});
      },
      "must match");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddGauge("ls_g", "x", {"__a"});
      },
      "invalid");
}

}  // namespace
}  // namespace latentsearch::rpc
