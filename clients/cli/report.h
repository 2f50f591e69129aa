// `latentsearch report`: one folder with an index.html that shows what a
// trained model does with a collection. Every file written is a PNG or the
// HTML page:
//   samples.png          seeded random images of the data set, captioned with
//                        their class names (common/image grids)
//   reconstructions.png  the first 10 test images (top row) and the model's
//                        reconstructions (Encoder.Reconstruct; bottom row,
//                        captioned with each image's MSE)
//   loss.png             training and validation loss per epoch (gnuplot),
//                        replayed from the trainer (GetJob + WatchTraining)
//   latent_matrix.png    scatter-plot matrix of up to 8 latent dimensions (the
//                        ones with the largest variance) for 50 random images
//                        (Encoder.Encode), coloured by class; histograms on
//                        the diagonal
//   latent_pca.png       the latent vectors of --map_images random images
//                        projected on their first two principal components
//                        (pca.h, computed here), coloured by class
//   pixels_pca.png       the same images' raw pixels projected the same way
//                        (what the model's map is up against)
//   eval.png             precision@k per metric and index, model vs raw
//                        pixels (eval.h), also as a table in the page
//   query-N.png          contact sheets of seeded queries (query.h)
//   index.html           the page
// The data set comes from --dataset/--path, or else from the collection's
// item uris (what `latentsearch ingest` wrote); "test images" are its test
// split (or all of it for a folder).
//
// A section whose source is missing (the trainer no longer knows the job, a
// model without decoder, no gnuplot) is left out with a note in the page and
// a warning; the collection, the encoder and the data set are required.
// This file's functions read no flags except the command's Run.
#ifndef LATENTSEARCH_CLIENTS_CLI_REPORT_H_
#define LATENTSEARCH_CLIENTS_CLI_REPORT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/cli/command.h"
#include "clients/cli/endpoint.h"
#include "clients/cli/eval.h"
#include "clients/cli/plot.h"
#include "clients/cli/query.h"
#include "common/data/load.h"

namespace latentsearch::cli {

// What to put in the report. A value type.
struct ReportOptions {
  // The folder to write (created if missing; files of the same names are
  // replaced atomically).
  std::string out_dir;
  // The collection; "" = the newest collection of `model_name`.
  std::string collection;
  // Used when `collection` is "" ("" = "default").
  std::string model_name;
  // The training job for the loss curves; "" = the job that wrote the
  // collection's model (its checkpoint metadata).
  std::string job_id;
  // The data set; unset = found through the collection's item uris.
  std::optional<data::DatasetSpec> dataset;
  // Seeds every random choice (samples, scatter, map, query items).
  uint64_t seed = 1;
  // Sample grid: rows × cols images.
  int sample_rows = 8;
  int sample_cols = 8;
  // Test images reconstructed.
  int reconstructions = 10;
  // Images in the scatter-plot matrix, and its most dimensions (≤ 16).
  int scatter_images = 50;
  int scatter_dims = 8;
  // Images on the 2-D maps.
  int map_images = 2000;
  // Query contact sheets (items of the collection, seeded).
  int query_sheets = 3;
  // Run the evaluation (eval.h) and show it.
  bool run_eval = true;
  eval::EvalOptions eval;
  // For the query sheets (collection is filled in).
  QueryOptions query;
  SheetOptions sheet;
  PlotOptions plot;
  // Told a line per step; may be empty.
  std::function<void(const std::string&)> progress;
};

// What WriteReport wrote.
struct ReportResult {
  std::string index_html;                // Path of the page.
  std::vector<std::string> files;        // Every file written (page included).
  std::vector<std::string> notes;        // Sections left out, and why.
  std::optional<eval::EvalResult> eval;  // When run.
};

// Writes the report. Errors: the services' statuses (RpcError) for the
// collection, items, encoder; the data set reader's; INVALID_ARGUMENT for
// options out of range; I/O errors naming the file.
absl::StatusOr<ReportResult> WriteReport(const Endpoint& trainer, const Endpoint& encoder,
                                         const Endpoint& search, const ReportOptions& options);

// The `report` subcommand.
Command ReportCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_REPORT_H_
