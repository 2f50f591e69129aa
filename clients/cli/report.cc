#include "clients/cli/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <utility>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/dataset_flags.h"
#include "clients/cli/pipeline_flags.h"
#include "clients/cli/service_calls.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "common/data/dataset.h"
#include "common/image/grid.h"
#include "common/image/image.h"
#include "common/items/image_resolver.h"
#include "common/items/item_uri.h"
#include "common/stats/pca.h"
#include "grpcpp/client_context.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/trainer.grpc.pb.h"

ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(int, queries);
ABSL_DECLARE_FLAG(uint64_t, eval_seed);
ABSL_DECLARE_FLAG(int, map_depth);
ABSL_DECLARE_FLAG(bool, baseline);
ABSL_DECLARE_FLAG(double, wait_for_index);
ABSL_DECLARE_FLAG(int, tile);
ABSL_DECLARE_FLAG(std::string, dataset);
ABSL_DECLARE_FLAG(std::string, path);

ABSL_FLAG(std::string, job, "",
          "report: the training job whose loss curves to show; \"\" = the job that wrote "
          "the collection's model.");
ABSL_FLAG(std::string, gnuplot, "gnuplot", "report: the gnuplot executable (path or name).");
ABSL_FLAG(int, map_images, 2000, "report: images on the 2-D maps of the latent space.");
ABSL_FLAG(int, sheets, 3, "report: query contact sheets (seeded items of the collection).");
ABSL_FLAG(bool, eval, true, "report: run the evaluation and show its table and chart.");

namespace latentsearch::cli {
namespace {

constexpr int kEncodeBatch = 256;

std::string Html(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// A data set item uri (common/items/item_uri.h) → the data set spec of its
// split; nullopt for file uris and uris in neither form.
std::optional<data::DatasetSpec> SpecFromUri(const std::string& uri) {
  absl::StatusOr<items::ItemUri> p = items::ParseItemUri(uri);
  if (!p.ok() || p->file) return std::nullopt;
  data::DatasetSpec spec;
  spec.kind = p->kind;
  spec.split = p->split;
  spec.path = p->path;
  return spec;
}

// One section of the page.
struct Section {
  std::string title;
  std::string body;  // HTML
};

class ReportWriter {
 public:
  ReportWriter(const Endpoint& trainer, const Endpoint& encoder, const Endpoint& search,
               const ReportOptions& options)
      : trainer_(trainer), encoder_(encoder), search_(search), options_(options) {}

  absl::StatusOr<ReportResult> Write();

 private:
  void Progress(const std::string& line) {
    if (options_.progress) options_.progress(line);
  }
  void Note(const std::string& section, const absl::Status& why) {
    const std::string note = absl::StrCat(section, " left out: ", FormatError(why));
    result_.notes.push_back(note);
    Progress(note);
  }
  std::string Path(const std::string& name) const { return base::JoinPath(options_.out_dir, name); }
  absl::Status WritePng(const std::string& name, const image::Image& img) {
    LS_ASSIGN_OR_RETURN(std::string png, image::EncodePng(img));
    LS_RETURN_IF_ERROR(base::WriteFileAtomically(Path(name), png));
    result_.files.push_back(Path(name));
    return absl::OkStatus();
  }
  std::string Img(const std::string& name, const std::string& alt) const {
    return absl::StrCat("<img src=\"", Html(name), "\" alt=\"", Html(alt), "\">");
  }
  std::string ClassName(int32_t label) const {
    if (label >= 0 && static_cast<size_t>(label) < class_names_.size()) {
      return class_names_[label];
    }
    return label < 0 ? "?" : absl::StrCat("class ", label);
  }

  absl::Status Resolve();
  absl::StatusOr<std::vector<float>> Encode(const std::vector<size_t>& indices);
  absl::Status Samples();
  absl::Status Reconstructions();
  absl::Status Loss();
  absl::Status LatentMatrix();
  absl::Status Maps();
  absl::Status Eval();
  absl::Status Queries();
  absl::Status Page();
  std::string Legend() const;

  const Endpoint& trainer_;
  const Endpoint& encoder_;
  const Endpoint& search_;
  const ReportOptions& options_;
  ReportResult result_;
  std::vector<Section> sections_;

  v1::CollectionInfo collection_;
  v1::CheckpointMetadata model_;
  std::vector<v1::Item> items_;
  data::DatasetSpec spec_;
  data::Dataset test_;  // The test split (or the whole folder).
  std::vector<std::string> class_names_;
  // Latent vectors of the map sample (indices into test_), kept for the
  // scatter matrix's choice of dimensions.
  std::vector<size_t> map_indices_;
  std::vector<float> map_latents_;
};

absl::Status ReportWriter::Resolve() {
  if (options_.collection.empty()) {
    LS_ASSIGN_OR_RETURN(collection_, NewestCollectionOf(search_, options_.model_name));
  } else {
    LS_ASSIGN_OR_RETURN(collection_, GetCollection(search_, options_.collection));
  }
  Progress(absl::StrCat("collection ", collection_.name(), ": ", collection_.item_count(),
                        " items, dim ", collection_.dim(), ", model ", collection_.model().name(),
                        " v", collection_.model().version()));
  LS_ASSIGN_OR_RETURN(
      model_, EncoderModel(encoder_, collection_.model().name(), collection_.model().version()));
  LS_ASSIGN_OR_RETURN(items_, ListAllItems(search_, collection_.name(), false));
  if (items_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("collection ", collection_.name(), " is empty; ingest images first"));
  }
  if (options_.dataset.has_value()) {
    spec_ = *options_.dataset;
  } else {
    std::optional<data::DatasetSpec> found;
    for (const v1::Item& item : items_) {
      found = SpecFromUri(item.uri());
      if (found.has_value()) break;
    }
    if (!found.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the items of ", collection_.name(),
                       " name no CIFAR-10/IDX data set in their uris (e.g. '", items_[0].uri(),
                       "'); give the data set with --dataset=KIND --path=DIR"));
    }
    spec_ = *found;
  }
  if (spec_.kind != data::DatasetKind::kFolder) spec_.split = data::Split::kTest;
  Progress(absl::StrCat("data set ", data::DatasetKindName(spec_.kind), ":",
                        data::SplitName(spec_.split), ":", spec_.path));
  LS_ASSIGN_OR_RETURN(test_, data::LoadDataset(spec_));
  class_names_ = test_.class_names;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ReportWriter::Encode(const std::vector<size_t>& indices) {
  auto stub = v1::Encoder::NewStub(encoder_.channel);
  std::vector<float> out;
  out.reserve(indices.size() * model_.latent_size());
  for (size_t start = 0; start < indices.size(); start += kEncodeBatch) {
    v1::EncodeRequest request;
    *request.mutable_model() = collection_.model();
    for (size_t i = start; i < std::min(indices.size(), start + kEncodeBatch); ++i) {
      v1::RawImage* raw = request.add_images()->mutable_raw();
      raw->set_height(test_.height);
      raw->set_width(test_.width);
      raw->set_channels(test_.channels);
      raw->set_pixels(test_.image_data(indices[i]), test_.image_bytes());
    }
    v1::EncodeResponse response;
    grpc::ClientContext context;
    SetDeadline(encoder_, &context);
    LS_RETURN_IF_ERROR(RpcError(encoder_, stub->Encode(&context, request, &response)));
    for (const v1::Embedding& e : response.embeddings()) {
      if (e.values_size() != static_cast<int>(model_.latent_size())) {
        return absl::InternalError(absl::StrCat("the encoder answered ", e.values_size(),
                                                "-d embeddings; the model's latent size is ",
                                                model_.latent_size()));
      }
      out.insert(out.end(), e.values().begin(), e.values().end());
    }
  }
  return out;
}

absl::Status ReportWriter::Samples() {
  const int rows = options_.sample_rows, cols = options_.sample_cols;
  const std::vector<size_t> picks =
      data::SampleIndices(test_.size(), static_cast<size_t>(rows) * cols, options_.seed);
  std::vector<image::Image> tiles;
  std::vector<std::string> captions;
  for (size_t i : picks) {
    LS_ASSIGN_OR_RETURN(image::Image img, test_.GetImage(i));
    tiles.push_back(std::move(img));
    captions.push_back(ClassName(test_.labels[i]));
  }
  image::GridOptions grid;
  grid.cols = cols;
  grid.scale = std::max(1, (64 + test_.width - 1) / test_.width);
  LS_ASSIGN_OR_RETURN(image::Image sheet, image::ComposeGrid(tiles, captions, grid));
  LS_RETURN_IF_ERROR(WritePng("samples.png", sheet));
  sections_.push_back(
      {"Samples", absl::StrCat("<p>", picks.size(), " random images of ", Html(test_.source),
                               " (seed ", options_.seed, "), captioned with their class.</p>",
                               Img("samples.png", "random samples"))});
  return absl::OkStatus();
}

absl::Status ReportWriter::Reconstructions() {
  const size_t n = std::min<size_t>(options_.reconstructions, test_.size());
  v1::ReconstructRequest request;
  *request.mutable_model() = collection_.model();
  for (size_t i = 0; i < n; ++i) {
    v1::RawImage* raw = request.add_images()->mutable_raw();
    raw->set_height(test_.height);
    raw->set_width(test_.width);
    raw->set_channels(test_.channels);
    raw->set_pixels(test_.image_data(i), test_.image_bytes());
  }
  auto stub = v1::Encoder::NewStub(encoder_.channel);
  v1::ReconstructResponse response;
  grpc::ClientContext context;
  SetDeadline(encoder_, &context);
  LS_RETURN_IF_ERROR(RpcError(encoder_, stub->Reconstruct(&context, request, &response)));
  if (static_cast<size_t>(response.images_size()) != n) {
    return absl::InternalError(
        absl::StrCat("Reconstruct answered ", response.images_size(), " images for ", n));
  }
  std::vector<image::Image> originals, recons;
  std::vector<std::string> captions_top, captions_bottom;
  double mse_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const v1::RawImage& r = response.images(static_cast<int>(i));
    image::Image rec(static_cast<int>(r.height()), static_cast<int>(r.width()),
                     static_cast<int>(r.channels()));
    if (r.pixels().size() != rec.num_bytes()) {
      return absl::InternalError("Reconstruct answered an image of the wrong size");
    }
    std::copy(r.pixels().begin(), r.pixels().end(), rec.pixels.begin());
    LS_ASSIGN_OR_RETURN(image::Image orig, test_.GetImage(i));
    if (orig.height != rec.height || orig.width != rec.width) {
      LS_ASSIGN_OR_RETURN(orig, image::Resize(orig, rec.height, rec.width));
    }
    if (orig.channels != rec.channels) {
      LS_ASSIGN_OR_RETURN(orig, image::ToChannels(orig, rec.channels));
    }
    originals.push_back(std::move(orig));
    recons.push_back(std::move(rec));
    captions_top.push_back(ClassName(test_.labels[i]));
    const float mse = i < static_cast<size_t>(response.mse_size()) ? response.mse(i) : NAN;
    mse_sum += mse;
    captions_bottom.push_back(absl::StrFormat("mse %.4f", mse));
  }
  std::vector<image::Image> tiles = originals;
  tiles.insert(tiles.end(), recons.begin(), recons.end());
  std::vector<std::string> captions = captions_top;
  captions.insert(captions.end(), captions_bottom.begin(), captions_bottom.end());
  image::GridOptions grid;
  grid.cols = static_cast<int>(n);
  grid.rows = 2;
  grid.scale = std::max(1, (64 + originals[0].width - 1) / originals[0].width);
  LS_ASSIGN_OR_RETURN(image::Image sheet, image::ComposeGrid(tiles, captions, grid));
  LS_RETURN_IF_ERROR(WritePng("reconstructions.png", sheet));
  sections_.push_back(
      {"Reconstructions",
       absl::StrFormat("<p>The first %d test images (top) and what model %s v%d makes of "
                       "them (bottom, Encoder.Reconstruct): mean squared error per pixel in "
                       "[0, 1] units, mean %.4f.</p>%s",
                       n, Html(model_.model().name()), model_.model().version(), mse_sum / n,
                       Img("reconstructions.png", "reconstructions"))});
  return absl::OkStatus();
}

// A job's epochs as WatchTraining replays them: the loss and k-NN curves
// and the HTML table rows.
struct EpochHistory {
  Series train{"training loss", {}, {}}, validation{"validation loss", {}, {}};
  Series knn{"k-NN precision@10 (held-out subset)", {}, {}};
  std::string rows;
};

// Reads the epochs of job `job_id`. A finished job's stream is its history
// and ends; a running job's goes on, so it is read for a few seconds only
// (its history comes first).
absl::StatusOr<EpochHistory> ReadEpochHistory(const Endpoint& trainer, v1::Trainer::Stub* stub,
                                              const std::string& job_id, bool running) {
  grpc::ClientContext context;
  if (running) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  }
  v1::WatchTrainingRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientReader<v1::TrainingEvent>> reader =
      stub->WatchTraining(&context, request);
  EpochHistory h;
  v1::TrainingEvent event;
  while (reader->Read(&event)) {
    if (!event.has_epoch()) continue;
    const v1::EpochEvent& e = event.epoch();
    h.train.x.push_back(e.epoch());
    h.train.y.push_back(e.train_loss());
    h.validation.x.push_back(e.epoch());
    h.validation.y.push_back(e.validation_loss());
    if (e.has_precision_at_10()) {
      h.knn.x.push_back(e.epoch());
      h.knn.y.push_back(e.precision_at_10());
    }
    absl::StrAppendFormat(
        &h.rows,
        "<tr><td>%d</td><td>%.5f</td><td>%.5f</td><td>%s</td>"
        "<td>%.1f</td></tr>",
        e.epoch(), e.train_loss(), e.validation_loss(),
        e.has_precision_at_10() ? absl::StrFormat("%.3f", e.precision_at_10()) : "", e.seconds());
  }
  const grpc::Status finish = reader->Finish();
  if (!finish.ok() && !(running && finish.error_code() == grpc::DEADLINE_EXCEEDED)) {
    return RpcError(trainer, finish);
  }
  return h;
}

absl::Status ReportWriter::Loss() {
  const std::string job_id = options_.job_id.empty() ? model_.job_id() : options_.job_id;
  if (job_id.empty()) {
    return absl::NotFoundError(
        "the model's checkpoint names no training job; give one with --job=ID");
  }
  auto stub = v1::Trainer::NewStub(trainer_.channel);
  v1::Job job;
  {
    grpc::ClientContext context;
    SetDeadline(trainer_, &context);
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    LS_RETURN_IF_ERROR(RpcError(trainer_, stub->GetJob(&context, request, &job)));
  }
  const bool running = job.state() == v1::JOB_STATE_RUNNING || job.state() == v1::JOB_STATE_QUEUED;
  LS_ASSIGN_OR_RETURN(EpochHistory h, ReadEpochHistory(trainer_, stub.get(), job_id, running));
  if (h.train.x.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " has no completed epoch yet"));
  }
  LS_RETURN_IF_ERROR(PlotLines({h.train, h.validation}, absl::StrCat("Loss per epoch, ", job_id),
                               "epoch", "mean squared error per pixel", false, Path("loss.png"),
                               options_.plot));
  result_.files.push_back(Path("loss.png"));
  std::string body = absl::StrFormat(
      "<p>Job %s (%s, %s, latent %d, %d training + %d validation images)%s: loss per "
      "epoch as the trainer reported it (WatchTraining replay).</p>%s",
      Html(job_id), v1::JobState_Name(job.state()), Html(job.config().architecture()),
      job.config().latent_size(), job.train_images(), job.validation_images(),
      running ? " — still running, epochs so far" : "", Img("loss.png", "loss per epoch"));
  if (!h.knn.x.empty()) {
    absl::Status s =
        PlotLines({h.knn}, "k-NN precision@10 per epoch (trainer's held-out subset)", "epoch",
                  "precision@10", false, Path("knn_per_epoch.png"), options_.plot);
    if (s.ok()) {
      result_.files.push_back(Path("knn_per_epoch.png"));
      body += Img("knn_per_epoch.png", "k-NN precision per epoch");
    }
  }
  absl::StrAppend(&body,
                  "<table><tr><th>epoch</th><th>training loss</th><th>validation "
                  "loss</th><th>k-NN P@10</th><th>seconds</th></tr>",
                  h.rows, "</table>");
  sections_.push_back({"Training", body});
  return absl::OkStatus();
}

absl::Status ReportWriter::Maps() {
  map_indices_ = data::SampleIndices(test_.size(), static_cast<size_t>(options_.map_images),
                                     options_.seed + 1);
  std::sort(map_indices_.begin(), map_indices_.end());
  LS_ASSIGN_OR_RETURN(map_latents_, Encode(map_indices_));
  const size_t n = map_indices_.size(), dim = model_.latent_size();
  std::vector<int32_t> labels;
  for (size_t i : map_indices_) labels.push_back(test_.labels[i]);
  std::string body;
  LS_ASSIGN_OR_RETURN(stats::Pca pca,
                      stats::FitPca(map_latents_, n, dim, std::min<size_t>(2, dim)));
  LS_ASSIGN_OR_RETURN(std::vector<double> xy, stats::Project(pca, map_latents_, n));
  auto share = [](const stats::Pca& p, size_t c) {
    return c < p.num_components() && p.total_variance > 0
               ? 100.0 * p.variances[c] / p.total_variance
               : 0.0;
  };
  const size_t k = pca.num_components();
  std::vector<double> x(n), y(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    x[i] = xy[i * k];
    if (k > 1) y[i] = xy[i * k + 1];
  }
  LS_RETURN_IF_ERROR(
      PlotScatterByClass(x, y, labels, class_names_,
                         absl::StrFormat("Latent space (%d-d) of %d test images, PCA", dim, n),
                         absl::StrFormat("PC1 (%.1f%% of variance)", share(pca, 0)),
                         absl::StrFormat("PC2 (%.1f%% of variance)", share(pca, 1)),
                         Path("latent_pca.png"), options_.plot));
  result_.files.push_back(Path("latent_pca.png"));
  absl::StrAppendFormat(&body,
                        "<p>The %d-d embeddings of %d random test images (Encoder.Encode), "
                        "projected on their first two principal components (covariance + "
                        "Jacobi eigenvectors, computed by the CLI), coloured by class. The "
                        "two components explain %.1f%% of the variance.</p>%s",
                        dim, n, share(pca, 0) + share(pca, 1), Img("latent_pca.png", "PCA"));
  // The raw pixels of the same images, projected the same way.
  std::vector<float> pixels;
  pixels.reserve(n * test_.image_bytes());
  for (size_t i : map_indices_) {
    const uint8_t* p = test_.image_data(i);
    for (size_t b = 0; b < test_.image_bytes(); ++b) pixels.push_back(p[b] / 255.0f);
  }
  absl::StatusOr<stats::Pca> pixel_pca = stats::FitPca(pixels, n, test_.image_bytes(), 2);
  if (pixel_pca.ok()) {
    LS_ASSIGN_OR_RETURN(std::vector<double> pxy, stats::Project(*pixel_pca, pixels, n));
    for (size_t i = 0; i < n; ++i) {
      x[i] = pxy[i * 2];
      y[i] = pxy[i * 2 + 1];
    }
    LS_RETURN_IF_ERROR(PlotScatterByClass(
        x, y, labels, class_names_,
        absl::StrFormat("Raw pixels (%d-d) of the same images, PCA", test_.image_bytes()),
        absl::StrFormat("PC1 (%.1f%% of variance)", share(*pixel_pca, 0)),
        absl::StrFormat("PC2 (%.1f%% of variance)", share(*pixel_pca, 1)), Path("pixels_pca.png"),
        options_.plot));
    result_.files.push_back(Path("pixels_pca.png"));
    absl::StrAppend(&body, "<p>For comparison, the same images' raw pixels:</p>",
                    Img("pixels_pca.png", "PCA of raw pixels"));
  }
  sections_.push_back({"Latent space map", body + Legend()});
  return absl::OkStatus();
}

absl::Status ReportWriter::LatentMatrix() {
  const size_t dim = model_.latent_size();
  const std::vector<size_t> picks = data::SampleIndices(
      test_.size(), static_cast<size_t>(options_.scatter_images), options_.seed + 2);
  LS_ASSIGN_OR_RETURN(std::vector<float> z, Encode(picks));
  const size_t n = picks.size();
  // The dimensions with the largest variance (over the map sample when there
  // is one, else these images), in index order.
  const std::vector<float>& basis = map_latents_.empty() ? z : map_latents_;
  const size_t bn = basis.size() / dim;
  std::vector<double> var(dim, 0.0);
  for (size_t j = 0; j < dim; ++j) {
    double mean = 0, sq = 0;
    for (size_t i = 0; i < bn; ++i) mean += basis[i * dim + j];
    mean /= bn;
    for (size_t i = 0; i < bn; ++i) sq += (basis[i * dim + j] - mean) * (basis[i * dim + j] - mean);
    var[j] = sq / std::max<size_t>(1, bn - 1);
  }
  std::vector<size_t> order(dim);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return var[a] > var[b]; });
  const size_t d = std::min<size_t>(dim, static_cast<size_t>(options_.scatter_dims));
  std::vector<size_t> dims(order.begin(), order.begin() + d);
  std::sort(dims.begin(), dims.end());
  std::vector<float> values(n * d);
  std::vector<std::string> names;
  for (size_t c = 0; c < d; ++c) {
    names.push_back(absl::StrCat("z", dims[c]));
    for (size_t i = 0; i < n; ++i) values[i * d + c] = z[i * dim + dims[c]];
  }
  std::vector<int32_t> labels;
  for (size_t i : picks) labels.push_back(test_.labels[i]);
  PlotOptions plot = options_.plot;
  plot.width = 960;
  LS_RETURN_IF_ERROR(PlotScatterMatrix(
      values, n, d, labels, names,
      absl::StrFormat("Latent dimensions of %d random test images (%d of %d dims)", n, d, dim),
      Path("latent_matrix.png"), plot));
  result_.files.push_back(Path("latent_matrix.png"));
  sections_.push_back(
      {"Latent dimensions",
       absl::StrFormat("<p>Scatter-plot matrix of %s for %d random test images "
                       "(Encoder.Encode), coloured by class; the diagonal shows each "
                       "dimension's histogram.%s</p>%s%s",
                       d == dim ? "every latent dimension"
                                : "the latent dimensions with "
                                  "the largest variance",
                       n, d == dim ? "" : absl::StrFormat(" (%d of %d shown.)", d, dim),
                       Img("latent_matrix.png", "scatter-plot matrix"), Legend())});
  return absl::OkStatus();
}

absl::Status ReportWriter::Eval() {
  eval::EvalOptions eval = options_.eval;
  eval.collection = collection_.name();
  if (!eval.progress && options_.progress) eval.progress = options_.progress;
  items::ImageResolver resolver;
  LS_ASSIGN_OR_RETURN(eval::EvalResult r, RunEval(search_, eval, &resolver));
  std::string table = absl::StrFormat(
      "<p>%d seeded queries (seed %d) drawn from the %d items of %s; precision@%d and "
      "mAP@%d by class label, the query itself left out (\"incl. self\" keeps it, as the "
      "seed project counted); HNSW recall@%d against exact. Raw pixels: the same "
      "queries by exact search over the images' pixels. %.1f s.</p>",
      r.num_queries, r.seed, r.items, Html(r.collection), r.k, r.map_depth, r.k, r.seconds);
  absl::StrAppendFormat(&table,
                        "<table><tr><th>source</th><th>metric</th><th>index</th><th>P@%d</th>"
                        "<th>P@%d incl. self</th><th>mAP@%d</th><th>recall@%d vs "
                        "exact</th></tr>",
                        r.k, r.k, r.map_depth, r.k);
  std::vector<std::string> groups;
  std::vector<std::vector<double>> values;
  for (const eval::EvalRow& row : r.rows) {
    absl::StrAppendFormat(
        &table,
        "<tr><td>%s</td><td>%s</td><td>%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
        "<td>%s</td></tr>",
        Html(row.source), eval::MetricLabel(row.metric), eval::IndexKindLabel(row.index_kind),
        row.precision_at_k, row.precision_at_k_including_self, row.map,
        row.recall_vs_exact.has_value() ? absl::StrFormat("%.4f", *row.recall_vs_exact) : "");
    groups.push_back(absl::StrCat(row.source == "model" ? "model" : "pixels", " ",
                                  eval::MetricLabel(row.metric), " ",
                                  eval::IndexKindLabel(row.index_kind)));
    values.push_back({row.precision_at_k, row.map});
  }
  table += "</table>";
  if (!r.baseline_note.empty()) absl::StrAppend(&table, "<p>", Html(r.baseline_note), "</p>");
  const std::vector<std::string> bars = {absl::StrCat("precision@", r.k),
                                         absl::StrCat("mAP@", r.map_depth)};
  LS_RETURN_IF_ERROR(PlotBars(groups, bars, values,
                              absl::StrCat("Retrieval quality, ", r.collection), "",
                              Path("eval.png"), options_.plot));
  result_.files.push_back(Path("eval.png"));
  sections_.push_back({"Retrieval quality", table + Img("eval.png", "eval chart")});
  result_.eval = std::move(r);
  return absl::OkStatus();
}

absl::Status ReportWriter::Queries() {
  QueryOptions query = options_.query;
  query.collection = collection_.name();
  query.fetch_images = true;
  const std::vector<size_t> picks = data::SampleIndices(
      items_.size(), static_cast<size_t>(options_.query_sheets), options_.seed + 3);
  items::ImageResolver resolver;
  std::string body = absl::StrFormat(
      "<p>Seeded items of the collection as queries (left), then their %d nearest "
      "neighbours per metric (%s index, the query itself left out), captioned with class "
      "and distance.</p>",
      query.k, eval::IndexKindLabel(query.index_kind));
  for (size_t q = 0; q < picks.size(); ++q) {
    QueryInput input;
    input.item_id = items_[picks[q]].id();
    LS_ASSIGN_OR_RETURN(QueryResult r, RunQuery(search_, input, query, &resolver));
    const std::string name = absl::StrCat("query-", q + 1, ".png");
    LS_RETURN_IF_ERROR(WriteContactSheet(r, Path(name), options_.sheet));
    result_.files.push_back(Path(name));
    absl::StrAppend(&body, "<h3>", Html(r.query_name), " (", Html(r.query_class), ")</h3>",
                    Img(name, "query sheet"));
  }
  sections_.push_back({"Queries", body});
  return absl::OkStatus();
}

std::string ReportWriter::Legend() const {
  std::string out = "<p class=\"legend\">";
  for (size_t c = 0; c < class_names_.size(); ++c) {
    absl::StrAppend(&out, "<span><i style=\"background:", ClassColor(static_cast<int32_t>(c)),
                    "\"></i>", Html(class_names_[c]), "</span> ");
  }
  return out + "</p>";
}

absl::Status ReportWriter::Page() {
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>latentsearch report: ",
      Html(collection_.name()),
      "</title><style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;"
      "padding:0 1em;color:#222}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}"
      "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
      "padding:3px 8px;text-align:right}th{background:#f3f3f3}"
      ".legend span{margin-right:1em;white-space:nowrap}.legend i{display:inline-block;"
      "width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}"
      ".note{color:#a33}</style></head><body>\n<h1>latentsearch report</h1>\n");
  absl::StrAppendFormat(
      &html,
      "<table><tr><th>collection</th><td>%s (%d items, %d-d)</td></tr><tr><th>model</th>"
      "<td>%s v%d: %s, latent %d, input %dx%dx%d, trained on %s (%d epochs, training loss "
      "%.5f, validation loss %.5f)</td></tr><tr><th>data set</th><td>%s</td></tr>"
      "<tr><th>written</th><td>%s</td></tr></table>\n",
      Html(collection_.name()), collection_.item_count(), collection_.dim(),
      Html(model_.model().name()), model_.model().version(), Html(model_.architecture()),
      model_.latent_size(), model_.input_shape().height(), model_.input_shape().width(),
      model_.input_shape().channels(), Html(model_.dataset()), model_.epoch(), model_.train_loss(),
      model_.validation_loss(), Html(test_.source),
      absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", absl::Now(), absl::LocalTimeZone()));
  for (const std::string& note : result_.notes) {
    absl::StrAppend(&html, "<p class=\"note\">", Html(note), "</p>\n");
  }
  for (const Section& s : sections_) {
    absl::StrAppend(&html, "<h2>", Html(s.title), "</h2>\n", s.body, "\n");
  }
  html += "</body></html>\n";
  result_.index_html = Path("index.html");
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(result_.index_html, html));
  result_.files.push_back(result_.index_html);
  return absl::OkStatus();
}

absl::StatusOr<ReportResult> ReportWriter::Write() {
  LS_RETURN_IF_ERROR(base::MakeDirs(options_.out_dir));
  LS_RETURN_IF_ERROR(Resolve());
  Progress("samples.png");
  LS_RETURN_IF_ERROR(Samples());
  Progress("reconstructions.png (Encoder.Reconstruct)");
  if (absl::Status s = Reconstructions(); !s.ok()) {
    if (absl::IsFailedPrecondition(s) || absl::IsUnimplemented(s)) {
      Note("Reconstructions", s);
    } else {
      return s;
    }
  }
  Progress("loss.png (trainer)");
  if (absl::Status s = Loss(); !s.ok()) {
    // The trainer is optional: it may be down or have forgotten the job.
    if (absl::IsInvalidArgument(s) && !IsRpcError(s)) return s;
    Note("Training curves", s);
  }
  Progress(absl::StrCat("latent_pca.png, pixels_pca.png (", options_.map_images,
                        " images, Encoder.Encode + PCA)"));
  if (absl::Status s = Maps(); !s.ok()) {
    if (!absl::IsFailedPrecondition(s)) return s;
    Note("Latent space map", s);
  }
  Progress("latent_matrix.png");
  if (absl::Status s = LatentMatrix(); !s.ok()) {
    if (!absl::IsFailedPrecondition(s)) return s;
    Note("Latent dimensions", s);
  }
  if (options_.run_eval) {
    Progress("eval.png (eval)");
    if (absl::Status s = Eval(); !s.ok()) {
      if (!absl::IsFailedPrecondition(s)) return s;
      Note("Retrieval quality", s);
    }
  }
  if (options_.query_sheets > 0) {
    Progress("query-N.png (query)");
    LS_RETURN_IF_ERROR(Queries());
  }
  LS_RETURN_IF_ERROR(Page());
  return std::move(result_);
}

absl::Status CheckOptions(const ReportOptions& o) {
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out is empty; expected a folder");
  if (o.map_images < 2 || o.map_images > 100000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--map_images=", o.map_images, ": expected 2..100000"));
  }
  if (o.query_sheets < 0 || o.query_sheets > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("--sheets=", o.query_sheets, ": expected 0..100"));
  }
  if (o.scatter_dims < 1 || o.scatter_dims > 16 || o.scatter_images < 2) {
    return absl::InvalidArgumentError("scatter matrix: expected 1..16 dims and >= 2 images");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ReportResult> WriteReport(const Endpoint& trainer, const Endpoint& encoder,
                                         const Endpoint& search, const ReportOptions& options) {
  LS_RETURN_IF_ERROR(CheckOptions(options));
  ReportWriter writer(trainer, encoder, search, options);
  return writer.Write();
}

namespace {

absl::Status RunReportCommand(const CommandContext& ctx) {
  if (!ctx.positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", ctx.positional[0], "'; flags are --name=value"));
  }
  ReportOptions options;
  options.out_dir = absl::GetFlag(FLAGS_out);
  if (options.out_dir.empty()) options.out_dir = "report";
  options.collection = absl::GetFlag(FLAGS_collection);
  options.model_name = absl::GetFlag(FLAGS_model);
  options.job_id = absl::GetFlag(FLAGS_job);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.map_images = absl::GetFlag(FLAGS_map_images);
  options.query_sheets = absl::GetFlag(FLAGS_sheets);
  options.run_eval = absl::GetFlag(FLAGS_eval);
  options.plot.gnuplot = absl::GetFlag(FLAGS_gnuplot);
  if (!absl::GetFlag(FLAGS_path).empty() || !absl::GetFlag(FLAGS_dataset).empty()) {
    LS_ASSIGN_OR_RETURN(options.dataset, DatasetSpecFromFlags());
  }
  options.eval.num_queries = absl::GetFlag(FLAGS_queries);
  options.eval.seed = absl::GetFlag(FLAGS_eval_seed);
  options.eval.k = static_cast<int>(absl::GetFlag(FLAGS_k));
  options.eval.map_depth = absl::GetFlag(FLAGS_map_depth);
  options.eval.ef = absl::GetFlag(FLAGS_ef);
  options.eval.baseline = absl::GetFlag(FLAGS_baseline);
  options.eval.wait_for_index_seconds = absl::GetFlag(FLAGS_wait_for_index);
  LS_ASSIGN_OR_RETURN(options.query.metrics, MetricsFromFlag("all"));
  options.eval.metrics = options.query.metrics;
  options.query.k = static_cast<int>(absl::GetFlag(FLAGS_k));
  options.query.ef = absl::GetFlag(FLAGS_ef);
  if (options.query.k < 1 || options.query.k > 999) {
    return absl::InvalidArgumentError(absl::StrCat("--k=", options.query.k, ": expected 1..999"));
  }
  options.sheet.tile = absl::GetFlag(FLAGS_tile);
  if (options.sheet.tile < 8 || options.sheet.tile > 512) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tile=", options.sheet.tile, ": expected 8..512"));
  }
  std::ostream& err = *ctx.err;
  options.progress = [&err](const std::string& line) { err << "report: " << line << "\n"; };
  LS_ASSIGN_OR_RETURN(Endpoint trainer, DialFromFlags(Service::kTrainer));
  LS_ASSIGN_OR_RETURN(Endpoint encoder, DialFromFlags(Service::kEncoder));
  LS_ASSIGN_OR_RETURN(Endpoint search, DialFromFlags(Service::kSearch));
  LS_ASSIGN_OR_RETURN(ReportResult r, WriteReport(trainer, encoder, search, options));
  for (const std::string& f : r.files) *ctx.out << f << "\n";
  for (const std::string& n : r.notes) err << "warning: " << n << "\n";
  err << "report: open " << r.index_html << "\n";
  return absl::OkStatus();
}

int Run(const CommandContext& ctx) { return ReportError(RunReportCommand(ctx), *ctx.err); }

}  // namespace

Command ReportCommand() {
  Command c;
  c.name = "report";
  c.summary =
      "Write a folder with index.html: samples, reconstructions, loss curves, latent "
      "scatter matrix and PCA map, eval table, query sheets.";
  c.usage =
      "--out=DIR [--collection=NAME] [--job=ID] [--dataset=KIND --path=DIR] [--seed=1] "
      "[--map_images=2000] [--sheets=3] [--queries=500] [--noeval]";
  c.flags = {"out",    "collection", "model",          "job",       "seed", "map_images",
             "sheets", "eval",       "queries",        "eval_seed", "k",    "map_depth",
             "ef",     "baseline",   "wait_for_index", "metric",    "tile", "gnuplot"};
  for (std::string& f : DatasetFlagNames()) c.flags.push_back(std::move(f));
  for (std::string& f : ClientFlagNames({Service::kTrainer, Service::kEncoder, Service::kSearch})) {
    c.flags.push_back(std::move(f));
  }
  c.run = &Run;
  return c;
}

}  // namespace latentsearch::cli
