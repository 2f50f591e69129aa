#include "clients/cli/plot.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/errno_status.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"

extern char** environ;

namespace latentsearch::cli {
namespace {

// A private temporary directory, removed with its files on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/ls-plot-XXXXXX");
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    if (path_.empty()) return;
    if (DIR* d = opendir(path_.c_str())) {
      while (struct dirent* e = readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") unlink((path_ + "/" + n).c_str());
      }
      closedir(d);
    }
    rmdir(path_.c_str());
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  bool ok() const { return !path_.empty(); }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A gnuplot string literal (double quotes; backslash and quote escaped).
std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string Num(double v) { return absl::StrFormat("%.9g", v); }

// The common preamble: terminal, output (a temporary name), no enhanced
// text so class names print as given.
std::string Preamble(const std::string& out_path, int width, int height, const std::string& title) {
  return absl::StrCat(
      "set terminal pngcairo size ", width, ",", height,
      " noenhanced font 'DejaVu Sans,10' background rgb 'white'\n", "set output ", Quote(out_path),
      "\n", "set encoding utf8\n",
      title.empty() ? "" : absl::StrCat("set title ", Quote(title), " font ',12'\n"));
}

// Runs `gnuplot script` and renames the output into place.
absl::Status Run(const std::string& script, const ScratchDir& dir, const std::string& tmp_png,
                 const std::string& png_path, const PlotOptions& options) {
  LS_ASSIGN_OR_RETURN(std::string gnuplot, FindGnuplot(options.gnuplot));
  const std::string script_path = dir.Join("chart.gp");
  const std::string log_path = dir.Join("gnuplot.log");
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(script_path, script));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> args = {gnuplot, script_path};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_error =
      posix_spawn(&pid, gnuplot.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run ", gnuplot, ": ", std::strerror(spawn_error),
                     "; install gnuplot-nox (deploy/install-deps.sh)"));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string log = base::ReadFile(log_path).value_or("");
  if (log.size() > 600) log = "..." + log.substr(log.size() - 600);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    unlink(tmp_png.c_str());
    return absl::InternalError(
        absl::StrCat("gnuplot failed drawing ", png_path, ": ", log.empty() ? "no output" : log));
  }
  absl::StatusOr<uint64_t> size = base::FileSize(tmp_png);
  if (!size.ok() || *size < 8) {
    unlink(tmp_png.c_str());
    return absl::InternalError(absl::StrCat("gnuplot wrote no PNG for ", png_path, ": ", log));
  }
  if (rename(tmp_png.c_str(), png_path.c_str()) != 0) {
    const int err = errno;
    const absl::Status s =
        base::ErrnoToStatus(err, absl::StrCat("cannot rename ", tmp_png, " to ", png_path));
    unlink(tmp_png.c_str());
    return s;
  }
  return absl::OkStatus();
}

std::string TmpPngFor(const std::string& png_path) {
  return absl::StrCat(png_path, ".tmp-", getpid(), ".png");
}

absl::Status CheckScratch(const ScratchDir& dir) {
  if (!dir.ok()) {
    return base::ErrnoToStatus(errno, "cannot create a temporary directory");
  }
  return absl::OkStatus();
}

}  // namespace

std::string ClassColor(int32_t label) {
  static const char* const kTab10[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  if (label < 0) return "#888888";
  return kTab10[label % 10];
}

absl::StatusOr<std::string> FindGnuplot(const std::string& name) {
  if (name.empty()) {
    return absl::FailedPreconditionError("no gnuplot executable given");
  }
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) == 0) return name;
    return absl::FailedPreconditionError(
        absl::StrCat(name, " is not an executable; install gnuplot-nox"));
  }
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path ? path : "/usr/local/bin:/usr/bin:/bin", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("gnuplot ('", name,
                   "') not found in PATH; the report draws its charts with it: install gnuplot-nox "
                   "(deploy/install-deps.sh)"));
}

absl::Status PlotLines(absl::Span<const Series> series, const std::string& title,
                       const std::string& x_label, const std::string& y_label, bool log_y,
                       const std::string& png_path, const PlotOptions& options) {
  if (series.empty()) return absl::InvalidArgumentError("a line chart needs a series");
  ScratchDir dir;
  LS_RETURN_IF_ERROR(CheckScratch(dir));
  std::string data;
  std::vector<std::string> plots;
  bool any_point = false;
  for (size_t s = 0; s < series.size(); ++s) {
    const Series& ser = series[s];
    if (ser.x.size() != ser.y.size()) {
      return absl::InvalidArgumentError(absl::StrCat("series '", ser.title, "' has ", ser.x.size(),
                                                     " x and ", ser.y.size(), " y values"));
    }
    if (s > 0) data += "\n\n";
    data += absl::StrCat("# ", ser.title, "\n");
    int points = 0;
    for (size_t i = 0; i < ser.x.size(); ++i) {
      if (!std::isfinite(ser.x[i]) || !std::isfinite(ser.y[i])) continue;
      if (log_y && ser.y[i] <= 0) continue;
      absl::StrAppend(&data, Num(ser.x[i]), " ", Num(ser.y[i]), "\n");
      ++points;
    }
    if (points == 0) {
      data += "nan nan\n";  // keeps the index numbering
      continue;
    }
    any_point = true;
    plots.push_back(absl::StrCat("'", dir.Join("lines.dat"), "' index ", s,
                                 " using 1:2 with linespoints lw 2 pt 7 ps 0.8 lc rgb '",
                                 ClassColor(static_cast<int32_t>(s)), "' title ",
                                 Quote(ser.title)));
  }
  if (!any_point) return absl::InvalidArgumentError("no finite values to plot");
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(dir.Join("lines.dat"), data));
  const std::string tmp = TmpPngFor(png_path);
  std::string script = Preamble(tmp, options.width, options.height, title);
  absl::StrAppend(&script, "set xlabel ", Quote(x_label), "\nset ylabel ", Quote(y_label),
                  "\nset grid\nset key top right\n", log_y ? "set logscale y\n" : "",
                  "set xtics 1\nset autoscale xfix\nset offsets 0.3,0.3,0,0\n", "plot ",
                  absl::StrJoin(plots, ", \\\n     "), "\n");
  return Run(script, dir, tmp, png_path, options);
}

absl::Status PlotScatterByClass(absl::Span<const double> x, absl::Span<const double> y,
                                absl::Span<const int32_t> labels,
                                absl::Span<const std::string> class_names, const std::string& title,
                                const std::string& x_label, const std::string& y_label,
                                const std::string& png_path, const PlotOptions& options) {
  if (x.size() != y.size() || x.size() != labels.size() || x.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("scatter plot: ", x.size(), " x, ", y.size(),
                                                   " y, ", labels.size(),
                                                   " labels; expected equal, non-zero counts"));
  }
  ScratchDir dir;
  LS_RETURN_IF_ERROR(CheckScratch(dir));
  int32_t max_label = -1;
  for (int32_t l : labels) max_label = std::max(max_label, l);
  // One data block per label value (-1 = unlabelled first).
  std::string data;
  std::vector<std::string> plots;
  int block = 0;
  for (int32_t l = -1; l <= max_label; ++l) {
    std::string rows;
    for (size_t i = 0; i < x.size(); ++i) {
      if (labels[i] == l) absl::StrAppend(&rows, Num(x[i]), " ", Num(y[i]), "\n");
    }
    if (rows.empty()) continue;
    if (block > 0) data += "\n\n";
    data += rows;
    const std::string name =
        l < 0 ? "unlabelled"
              : (static_cast<size_t>(l) < class_names.size() ? class_names[l]
                                                             : absl::StrCat("class ", l));
    plots.push_back(absl::StrCat("'", dir.Join("points.dat"), "' index ", block,
                                 " using 1:2 with points pt 7 ps 0.45 lc rgb '", ClassColor(l),
                                 "' title ", Quote(name)));
    ++block;
  }
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(dir.Join("points.dat"), data));
  const std::string tmp = TmpPngFor(png_path);
  std::string script = Preamble(tmp, options.width, options.height, title);
  absl::StrAppend(&script, "set xlabel ", Quote(x_label), "\nset ylabel ", Quote(y_label),
                  "\nset grid\nset key outside right top box\nset size ratio -1\n", "plot ",
                  absl::StrJoin(plots, ", \\\n     "), "\n");
  return Run(script, dir, tmp, png_path, options);
}

namespace {

// The scatter matrix's points.dat: one block per label value present
// (-1 = unlabelled first), each row the d values of one point. Returns
// (label, block index) per block.
std::vector<std::pair<int32_t, int>> PointBlocks(absl::Span<const float> values, size_t n, size_t d,
                                                 absl::Span<const int32_t> labels,
                                                 std::string* points) {
  int32_t max_label = -1;
  for (int32_t l : labels) max_label = std::max(max_label, l);
  std::vector<std::pair<int32_t, int>> label_blocks;
  for (int32_t l = -1; l <= max_label; ++l) {
    std::string rows;
    for (size_t i = 0; i < n; ++i) {
      if (labels[i] != l) continue;
      for (size_t j = 0; j < d; ++j) absl::StrAppend(&rows, j ? " " : "", Num(values[i * d + j]));
      rows += "\n";
    }
    if (rows.empty()) continue;
    if (!label_blocks.empty()) *points += "\n\n";
    *points += rows;
    label_blocks.emplace_back(l, static_cast<int>(label_blocks.size()));
  }
  return label_blocks;
}

// The scatter matrix's hist.dat: per dimension a block of (bin centre,
// count) over 12 bins. Returns each dimension's bin width.
std::vector<double> Histograms(absl::Span<const float> values, size_t n, size_t d,
                               std::string* hist) {
  constexpr int kBins = 12;
  std::vector<double> bin_width(d);
  for (size_t j = 0; j < d; ++j) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (size_t i = 0; i < n; ++i) {
      lo = std::min<double>(lo, values[i * d + j]);
      hi = std::max<double>(hi, values[i * d + j]);
    }
    if (!(hi > lo)) hi = lo + 1;
    bin_width[j] = (hi - lo) / kBins;
    std::vector<int> counts(kBins, 0);
    for (size_t i = 0; i < n; ++i) {
      int b = static_cast<int>((values[i * d + j] - lo) / bin_width[j]);
      counts[std::clamp(b, 0, kBins - 1)]++;
    }
    if (j > 0) *hist += "\n\n";
    for (int b = 0; b < kBins; ++b) {
      absl::StrAppend(hist, Num(lo + (b + 0.5) * bin_width[j]), " ", counts[b], "\n");
    }
  }
  return bin_width;
}

// The gnuplot commands of panel (i, j) of the matrix: row i plots
// dimension i on y, column j dimension j on x; the diagonal holds the
// histogram of the dimension.
std::string MatrixPanel(size_t i, size_t j, size_t d, absl::Span<const std::string> dim_names,
                        const std::vector<std::pair<int32_t, int>>& label_blocks,
                        const std::vector<double>& bin_width, const ScratchDir& dir) {
  std::string script =
      j == 0 ? absl::StrCat("set ylabel ", Quote(dim_names[i]), " offset 1.5,0 font ',9'\n")
             : "unset ylabel\n";
  absl::StrAppend(&script, i + 1 == d ? absl::StrCat("set xlabel ", Quote(dim_names[j]),
                                                     " offset 0,1 font ',9'\n")
                                      : "unset xlabel\n");
  if (i == j) {
    absl::StrAppend(&script, "set style fill solid 0.6 noborder\nset yrange [0:*]\n", "plot '",
                    dir.Join("hist.dat"), "' index ", j, " using 1:2:(", Num(bin_width[j] * 0.9),
                    ") with boxes lc rgb '#555555'\n", "set yrange [*:*]\n");
    return script;
  }
  std::vector<std::string> plots;
  for (const auto& [label, block] : label_blocks) {
    plots.push_back(absl::StrCat("'", dir.Join("points.dat"), "' index ", block, " using ", j + 1,
                                 ":", i + 1, " with points pt 7 ps 0.35 lc rgb '",
                                 ClassColor(label), "'"));
  }
  absl::StrAppend(&script, "plot ", absl::StrJoin(plots, ", "), "\n");
  return script;
}

}  // namespace

absl::Status PlotScatterMatrix(absl::Span<const float> values, size_t n, size_t d,
                               absl::Span<const int32_t> labels,
                               absl::Span<const std::string> dim_names, const std::string& title,
                               const std::string& png_path, const PlotOptions& options) {
  if (n == 0 || d == 0 || d > 16 || values.size() != n * d || labels.size() != n ||
      dim_names.size() != d) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scatter matrix: ", values.size(), " values for n = ", n, ", d = ", d, " (1..16), ",
        labels.size(), " labels, ", dim_names.size(), " dimension names"));
  }
  ScratchDir dir;
  LS_RETURN_IF_ERROR(CheckScratch(dir));
  std::string points, hist;
  const std::vector<std::pair<int32_t, int>> label_blocks =
      PointBlocks(values, n, d, labels, &points);
  const std::vector<double> bin_width = Histograms(values, n, d, &hist);
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(dir.Join("points.dat"), points));
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(dir.Join("hist.dat"), hist));
  const std::string tmp = TmpPngFor(png_path);
  const int size = options.width;
  std::string script = Preamble(tmp, size, size, "");
  // Panels fill [0.06, 0.99] × [0.04, 0.95]; the title sits above.
  const double left = 0.06, right = 0.99, bottom = 0.05, top = 0.94;
  absl::StrAppend(&script, "unset key\nset tics scale 0.4 font ',7'\n",
                  "set format x ''\nset format y ''\n",
                  absl::StrFormat("set multiplot layout %d,%d margins %.3f,%.3f,%.3f,%.3f "
                                  "spacing 0.006,0.006 title %s font ',12'\n",
                                  d, d, left, right, bottom, top, Quote(title)));
  for (size_t i = 0; i < d; ++i) {
    for (size_t j = 0; j < d; ++j) {
      absl::StrAppend(&script, MatrixPanel(i, j, d, dim_names, label_blocks, bin_width, dir));
    }
  }
  script += "unset multiplot\n";
  return Run(script, dir, tmp, png_path, options);
}

absl::Status PlotBars(absl::Span<const std::string> groups,
                      absl::Span<const std::string> bar_titles,
                      const std::vector<std::vector<double>>& values, const std::string& title,
                      const std::string& y_label, const std::string& png_path,
                      const PlotOptions& options) {
  if (groups.empty() || bar_titles.empty() || values.size() != groups.size()) {
    return absl::InvalidArgumentError("bar chart: expected one row of values per group");
  }
  double top = 1;
  for (const auto& row : values) {
    if (row.size() != bar_titles.size()) {
      return absl::InvalidArgumentError("bar chart: expected one value per bar title");
    }
    for (double v : row) {
      if (std::isfinite(v)) top = std::max(top, v);
    }
  }
  ScratchDir dir;
  LS_RETURN_IF_ERROR(CheckScratch(dir));
  std::string data;
  for (size_t g = 0; g < groups.size(); ++g) {
    data += Quote(groups[g]);
    for (double v : values[g]) absl::StrAppend(&data, " ", std::isfinite(v) ? Num(v) : "NaN");
    data += "\n";
  }
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(dir.Join("bars.dat"), data));
  std::vector<std::string> plots;
  for (size_t b = 0; b < bar_titles.size(); ++b) {
    plots.push_back(absl::StrCat(
        "'", dir.Join("bars.dat"), "' using ", b + 2, b == 0 ? ":xtic(1)" : "", " lc rgb '",
        ClassColor(static_cast<int32_t>(b)), "' title ", Quote(bar_titles[b])));
  }
  const std::string tmp = TmpPngFor(png_path);
  std::string script = Preamble(tmp, options.width, options.height, title);
  absl::StrAppend(
      &script, "set style data histogram\nset style histogram cluster gap 1\n",
      "set style fill solid 0.85 border -1\nset boxwidth 0.9\n", "set ylabel ", Quote(y_label),
      "\n", "set yrange [0:", Num(top * 1.05), "]\nset grid ytics\nset key outside right top\n",
      "set xtics rotate by -25 font ',9'\n", "plot ", absl::StrJoin(plots, ", \\\n     "), "\n");
  return Run(script, dir, tmp, png_path, options);
}

}  // namespace latentsearch::cli
