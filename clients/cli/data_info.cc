#include "clients/cli/data_info.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cli/dataset_flags.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "common/data/dataset.h"
#include "common/data/load.h"
#include "common/image/grid.h"
#include "common/image/image.h"

ABSL_FLAG(std::string, grid, "", "If set, write a PNG grid of random samples to this path.");
ABSL_FLAG(int, grid_rows, 8, "Rows of the sample grid.");
ABSL_FLAG(int, grid_cols, 8, "Columns of the sample grid.");
ABSL_FLAG(uint64_t, seed, 1, "Seed choosing the grid's samples.");
ABSL_FLAG(int, grid_scale, 0, "Integer enlargement of each sample; 0 = enough for 64-pixel tiles.");
ABSL_FLAG(bool, grid_captions, true, "Caption each sample with its class name.");

namespace latentsearch::cli {
namespace {

void PrintSummary(const data::Dataset& d, absl::Duration load_time, std::ostream& out) {
  out << "source:   " << d.source << "\n"
      << "images:   " << d.size() << "\n"
      << "shape:    " << d.height << " x " << d.width << " x " << d.channels
      << " (height x width x channels, uint8)\n"
      << "loaded:   " << absl::StrFormat("%.3f s", absl::ToDoubleSeconds(load_time)) << "\n";
  if (d.class_names.empty()) {
    out << "classes:  none (unlabelled)\n";
    return;
  }
  out << "classes:  " << d.class_names.size() << "\n";
  size_t width = 5;
  for (const std::string& n : d.class_names) width = std::max(width, n.size());
  const std::vector<size_t> counts = data::ClassCounts(d);
  out << absl::StrFormat("  %5s  %-*s  %8s  %6s\n", "label", width, "class", "count", "share");
  for (size_t c = 0; c < counts.size(); ++c) {
    out << absl::StrFormat("  %5d  %-*s  %8d  %5.1f%%\n", c, width, d.class_names[c], counts[c],
                           100.0 * counts[c] / d.size());
  }
  out << absl::StrFormat("  %5s  %-*s  %8d\n", "", width, "total", d.size());
}

absl::Status WriteGrid(const data::Dataset& d, const std::string& path, std::ostream& out) {
  const int rows = absl::GetFlag(FLAGS_grid_rows);
  const int cols = absl::GetFlag(FLAGS_grid_cols);
  if (rows < 1 || cols < 1 || rows > 100 || cols > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grid_rows=", rows, " --grid_cols=", cols, ": expected 1..100 each"));
  }
  int scale = absl::GetFlag(FLAGS_grid_scale);
  if (scale == 0) scale = std::max(1, (64 + d.width - 1) / d.width);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  const std::vector<size_t> picks =
      data::SampleIndices(d.size(), static_cast<size_t>(rows) * cols, seed);
  std::vector<image::Image> tiles;
  std::vector<std::string> captions;
  for (size_t i : picks) {
    LS_ASSIGN_OR_RETURN(image::Image img, d.GetImage(i));
    tiles.push_back(std::move(img));
    const int32_t label = d.labels[i];
    captions.push_back(label >= 0 ? d.class_names[static_cast<size_t>(label)]
                                  : absl::StrCat("#", i));
  }
  image::GridOptions options;
  options.rows = rows;
  options.cols = cols;
  options.scale = scale;
  const bool captioned = absl::GetFlag(FLAGS_grid_captions);
  LS_ASSIGN_OR_RETURN(
      image::Image sheet,
      image::ComposeGrid(tiles, captioned ? captions : std::vector<std::string>{}, options));
  LS_ASSIGN_OR_RETURN(std::string png, image::EncodePng(sheet));
  if (const size_t slash = path.find_last_of('/'); slash != std::string::npos && slash > 0) {
    LS_RETURN_IF_ERROR(base::MakeDirs(path.substr(0, slash)));
  }
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(path, png));
  out << "grid:     " << path << " (" << picks.size() << " samples in " << rows << " x " << cols
      << ", seed " << seed << ", " << sheet.width << " x " << sheet.height << " px)\n";
  return absl::OkStatus();
}

int Run(const CommandContext& ctx) {
  auto fail = [&](const absl::Status& s) {
    *ctx.err << "latentsearch data-info: " << s.message() << "\n";
    return ExitCodeFor(s);
  };
  if (!ctx.positional.empty()) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", ctx.positional[0], "'; flags are --name=value")));
  }
  absl::StatusOr<data::DatasetSpec> spec = DatasetSpecFromFlags();
  if (!spec.ok()) return fail(spec.status());
  const absl::Time start = absl::Now();
  absl::StatusOr<data::Dataset> d = data::LoadDataset(*spec);
  // A reader's INVALID_ARGUMENT (bad folder options) is a usage error too;
  // everything about the files themselves exits with 1.
  if (!d.ok()) return fail(d.status());
  PrintSummary(*d, absl::Now() - start, *ctx.out);
  const std::string grid = absl::GetFlag(FLAGS_grid);
  if (!grid.empty()) {
    if (absl::Status s = WriteGrid(*d, grid, *ctx.out); !s.ok()) return fail(s);
  }
  return kExitOk;
}

}  // namespace

Command DataInfoCommand() {
  Command c;
  c.name = "data-info";
  c.summary =
      "Load a data set; print its size, shape and per-class counts; optionally "
      "write a PNG grid of random samples.";
  c.usage =
      "--dataset=cifar10|idx|folder --path=DIR [--split=train|test|all] "
      "[--grid=out.png --grid_rows=8 --grid_cols=8 --seed=1]";
  c.flags = DatasetFlagNames();
  for (const char* f : {"grid", "grid_rows", "grid_cols", "seed", "grid_scale", "grid_captions"}) {
    c.flags.emplace_back(f);
  }
  c.run = &Run;
  return c;
}

}  // namespace latentsearch::cli
