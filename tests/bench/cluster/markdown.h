// Markdown tables and number formatting for the cluster benchmark's report
// (docs/benchmarks.md style: thousands separators, µs / s units).
// Thread-safety: Table is a plain value; the functions are pure.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_MARKDOWN_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_MARKDOWN_H_

#include <string>
#include <vector>

namespace latentsearch::bench {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // "| h1 | h2 |\n|---|---|\n| a | b |\n..."
  std::string ToString() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// `value` with `decimals` digits after the point and commas between
// thousands: Num(15979.2, 0) = "15,979", Num(1185.04, 1) = "1,185.0".
std::string Num(double value, int decimals);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_MARKDOWN_H_
