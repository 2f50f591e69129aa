// Charts for `latentsearch report`, drawn by gnuplot (Debian's gnuplot-nox,
// pngcairo terminal) run as a child process: each function writes a script
// and its data into a private temporary directory, runs
//   gnuplot <script>
// with stdout/stderr captured, checks the exit status and that a PNG came
// out, and removes the temporary directory. The PNG itself is written by
// gnuplot to a temporary name beside `png_path` and renamed into place, so a
// failed run never leaves a half chart.
//
// Errors: FAILED_PRECONDITION when gnuplot cannot be found or run (the
// message says to install gnuplot-nox); INTERNAL with the tail of gnuplot's
// output when it fails; INVALID_ARGUMENT for inconsistent inputs.
// Thread-safety: thread-safe (no shared state; distinct output paths).
#ifndef LATENTSEARCH_CLIENTS_CLI_PLOT_H_
#define LATENTSEARCH_CLIENTS_CLI_PLOT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace latentsearch::cli {

// Colour of class c in every chart (and the report's HTML legend): the
// ten "tab10" colours, cycled; "#888888" for labels < 0.
std::string ClassColor(int32_t label);

// How charts are drawn. A value type.
struct PlotOptions {
  // The gnuplot executable: a path, or a name looked up in PATH.
  std::string gnuplot = "gnuplot";
  // Chart size in pixels.
  int width = 900;
  int height = 520;
};

// The gnuplot executable's path; FAILED_PRECONDITION when it is not found.
absl::StatusOr<std::string> FindGnuplot(const std::string& name);

// One line of a line chart: y over x (equal lengths; NaN values are
// skipped).
struct Series {
  std::string title;
  std::vector<double> x;
  std::vector<double> y;
};

// A line chart with points (e.g. training and validation loss per epoch).
absl::Status PlotLines(absl::Span<const Series> series, const std::string& title,
                       const std::string& x_label, const std::string& y_label, bool log_y,
                       const std::string& png_path, const PlotOptions& options);

// A 2-D scatter plot of n points (x, y: n values each) coloured by label,
// with a key naming the classes (`class_names` may be empty).
absl::Status PlotScatterByClass(absl::Span<const double> x, absl::Span<const double> y,
                                absl::Span<const int32_t> labels,
                                absl::Span<const std::string> class_names, const std::string& title,
                                const std::string& x_label, const std::string& y_label,
                                const std::string& png_path, const PlotOptions& options);

// A scatter-plot matrix of n points in d dimensions (`values` n × d,
// row-major) coloured by label: panel (i, j) plots dimension j against i;
// the diagonal shows a histogram of dimension i. `dim_names` has d entries.
// The PNG is square, options.width pixels (d ≤ 16).
absl::Status PlotScatterMatrix(absl::Span<const float> values, size_t n, size_t d,
                               absl::Span<const int32_t> labels,
                               absl::Span<const std::string> dim_names, const std::string& title,
                               const std::string& png_path, const PlotOptions& options);

// Grouped bars: groups.size() groups (x tick labels), each with one bar per
// entry of `bar_titles`; values[g][b]. Values outside [0, 1] are fine; the
// y range is [0, max(1, largest)].
absl::Status PlotBars(absl::Span<const std::string> groups,
                      absl::Span<const std::string> bar_titles,
                      const std::vector<std::vector<double>>& values, const std::string& title,
                      const std::string& y_label, const std::string& png_path,
                      const PlotOptions& options);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_PLOT_H_
