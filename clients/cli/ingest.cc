#include "clients/cli/ingest.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/dataset_flags.h"
#include "clients/cli/json.h"
#include "clients/cli/model_ref.h"
#include "clients/cli/pipeline_flags.h"
#include "clients/cli/progress.h"
#include "clients/cli/service_calls.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"

ABSL_FLAG(std::string, files, "",
          "ingest: a folder (searched recursively) or a single PNG/JPEG file of your own "
          "images, unlabelled; ids are the paths relative to it. Instead of --dataset.");
ABSL_FLAG(int, batch, 256, "ingest: images per Encode request (1..1024).");
ABSL_FLAG(int, in_flight, 2, "ingest: Encode requests in flight at once (1..64).");
ABSL_FLAG(bool, reindex, false,
          "ingest: re-encode --collection with the newest version of its model into a new "
          "collection (--to, default <base>-v<new version>).");
ABSL_FLAG(std::string, to, "", "ingest --reindex: name of the new collection.");

namespace latentsearch::cli {
namespace {

// Keeps each Encode request under the servers' 4 MiB receive limit.
constexpr size_t kMaxRequestBytes = 3 << 20;

std::string StripVersionSuffix(const std::string& name) {
  const size_t dash = name.rfind("-v");
  if (dash == std::string::npos || dash + 2 >= name.size()) return name;
  for (size_t i = dash + 2; i < name.size(); ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) return name;
  }
  return name.substr(0, dash);
}

// Encodes and upserts the items at `todo` (indices into `source`).
class IngestRun {
 public:
  IngestRun(const Endpoint& encoder, const Endpoint& search, const items::ImageSource& source,
            const IngestOptions& options, v1::ModelRef model, uint32_t dim,
            std::vector<size_t> todo, uint64_t skipped)
      : encoder_(encoder),
        search_(search),
        source_(source),
        options_(options),
        model_(std::move(model)),
        dim_(dim),
        todo_(std::move(todo)),
        skipped_(skipped) {}

  absl::Status Run() {
    start_ = absl::Now();
    const int workers =
        std::max(1, std::min<int>(options_.in_flight,
                                  (todo_.size() + options_.batch_size - 1) / options_.batch_size));
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) threads.emplace_back([this] { Worker(); });
    for (std::thread& t : threads) t.join();
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

  uint64_t done() const { return done_.load(); }

 private:
  void Fail(absl::Status s) {
    std::lock_guard<std::mutex> l(mu_);
    if (error_.ok()) error_ = std::move(s);
    stop_ = true;
  }

  // Takes the next batch: requests and the source indices they hold.
  bool NextBatch(v1::EncodeRequest* req, std::vector<size_t>* items) {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return false;
    size_t bytes = 0;
    while (next_ < todo_.size() && items->size() < static_cast<size_t>(options_.batch_size)) {
      const size_t i = todo_[next_];
      absl::StatusOr<v1::Image> img = source_.image(i);
      if (!img.ok()) {
        if (error_.ok()) {
          error_ = absl::Status(img.status().code(), absl::StrCat("item ", source_.ids[i], ": ",
                                                                  img.status().message()));
        }
        stop_ = true;
        return false;
      }
      const size_t size = img->ByteSizeLong();
      if (!items->empty() && bytes + size > kMaxRequestBytes) break;
      bytes += size;
      *req->add_images() = std::move(*img);
      items->push_back(i);
      ++next_;
    }
    return !items->empty();
  }

  void Worker() {
    auto encoder = v1::Encoder::NewStub(encoder_.channel);
    auto search = v1::Search::NewStub(search_.channel);
    while (true) {
      v1::EncodeRequest req;
      *req.mutable_model() = model_;
      std::vector<size_t> items;
      if (!NextBatch(&req, &items)) return;
      v1::EncodeResponse resp;
      {
        grpc::ClientContext ctx;
        SetDeadline(encoder_, &ctx);
        absl::Status s = RpcError(encoder_, encoder->Encode(&ctx, req, &resp));
        if (!s.ok()) return Fail(std::move(s));
      }
      if (static_cast<size_t>(resp.embeddings_size()) != items.size() || resp.dim() != dim_) {
        return Fail(absl::InternalError(
            absl::StrCat("the encoder answered ", resp.embeddings_size(), " embeddings of dim ",
                         resp.dim(), " for ", items.size(), " images; expected dim ", dim_,
                         " (encoder at ", encoder_.address, ")")));
      }
      v1::UpsertRequest up;
      up.set_collection(options_.collection);
      for (size_t j = 0; j < items.size(); ++j) {
        v1::Item* item = up.add_items();
        item->set_id(source_.ids[items[j]]);
        item->set_label(source_.labels[items[j]]);
        item->set_uri(source_.uris[items[j]]);
        *item->mutable_vector() = std::move(*resp.mutable_embeddings(j)->mutable_values());
      }
      {
        grpc::ClientContext ctx;
        SetDeadline(search_, &ctx);
        v1::UpsertResponse ack;
        auto writer = search->Upsert(&ctx, &ack);
        writer->Write(up);
        writer->WritesDone();
        absl::Status s = RpcError(search_, writer->Finish());
        if (!s.ok()) return Fail(std::move(s));
      }
      done_ += items.size();
      if (options_.progress) {
        std::lock_guard<std::mutex> l(progress_mu_);
        options_.progress(
            {done_.load(), todo_.size(), skipped_, absl::ToDoubleSeconds(absl::Now() - start_)});
      }
    }
  }

  const Endpoint& encoder_;
  const Endpoint& search_;
  const items::ImageSource& source_;
  const IngestOptions& options_;
  const v1::ModelRef model_;
  const uint32_t dim_;
  const std::vector<size_t> todo_;
  const uint64_t skipped_;
  absl::Time start_;
  std::atomic<uint64_t> done_{0};
  std::mutex progress_mu_;
  std::mutex mu_;
  size_t next_ = 0;     // guarded by mu_
  bool stop_ = false;   // guarded by mu_
  absl::Status error_;  // guarded by mu_
};

}  // namespace

absl::StatusOr<IngestResult> Ingest(const Endpoint& encoder, const Endpoint& search,
                                    const items::ImageSource& source,
                                    const IngestOptions& options) {
  if (options.collection.empty()) {
    return absl::InvalidArgumentError("ingest needs a collection name");
  }
  if (options.batch_size < 1 || options.batch_size > 1024 || options.in_flight < 1 ||
      options.in_flight > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch ", options.batch_size, ", in flight ", options.in_flight,
                     ": expected batch 1..1024 and 1..64 requests in flight"));
  }
  const absl::Time start = absl::Now();
  IngestResult result;
  result.collection = options.collection;
  result.total = source.size();
  uint32_t dim = 0;
  absl::StatusOr<v1::CollectionInfo> existing = GetCollection(search, options.collection);
  if (existing.ok()) {
    result.model = existing->model();
    dim = existing->dim();
    const std::string want = options.model.name().empty() ? "default" : options.model.name();
    const std::string have =
        existing->model().name().empty() ? "default" : existing->model().name();
    if (existing->model().version() == 0 || have != want ||
        (options.model.version() != 0 && options.model.version() != existing->model().version())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "collection '", options.collection, "' holds vectors of model '", have, "' v",
          existing->model().version(), ", not '", want, "'",
          options.model.version() != 0 ? absl::StrCat(" v", options.model.version()) : "",
          "; pick another --collection, or re-encode it with --reindex"));
    }
  } else if (absl::IsNotFound(existing.status())) {
    LS_ASSIGN_OR_RETURN(v1::CheckpointMetadata meta,
                        EncoderModel(encoder, options.model.name(), options.model.version()));
    result.model = meta.model();
    dim = meta.latent_size();
    auto stub = v1::Search::NewStub(search.channel);
    grpc::ClientContext ctx;
    SetDeadline(search, &ctx);
    v1::CreateCollectionRequest req;
    req.set_name(options.collection);
    req.set_dim(dim);
    *req.mutable_model() = result.model;
    req.set_if_not_exists(true);
    LS_RETURN_IF_ERROR(ApplyClusterLayoutFlags(&req));
    v1::CollectionInfo info;
    LS_RETURN_IF_ERROR(RpcError(search, stub->CreateCollection(&ctx, req, &info)));
    result.created = true;
  } else {
    return existing.status();
  }

  absl::flat_hash_set<std::string> present;
  if (!result.created) {
    LS_ASSIGN_OR_RETURN(std::vector<v1::Item> items,
                        ListAllItems(search, options.collection, false));
    for (v1::Item& item : items) present.insert(std::move(*item.mutable_id()));
  }
  std::vector<size_t> todo;
  for (size_t i = 0; i < source.size(); ++i) {
    if (!present.contains(source.ids[i])) todo.push_back(i);
  }
  result.skipped = source.size() - todo.size();
  IngestRun run(encoder, search, source, options, result.model, dim, std::move(todo),
                result.skipped);
  absl::Status s = run.Run();
  result.upserted = run.done();
  LS_RETURN_IF_ERROR(s);
  LS_ASSIGN_OR_RETURN(v1::CollectionInfo after, GetCollection(search, options.collection));
  result.item_count = after.item_count();
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return result;
}

absl::StatusOr<ReindexResult> Reindex(const Endpoint& encoder, const Endpoint& search,
                                      const std::string& collection, const std::string& target,
                                      const IngestOptions& options,
                                      items::ImageResolver* resolver) {
  ReindexResult r;
  r.from = collection;
  LS_ASSIGN_OR_RETURN(v1::CollectionInfo info, GetCollection(search, collection));
  r.from_model = info.model();
  if (info.model().version() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "collection '", collection,
        "' records no model version (vectors from elsewhere); it cannot be re-encoded"));
  }
  LS_ASSIGN_OR_RETURN(v1::CheckpointMetadata newest, EncoderModel(encoder, info.model().name(), 0));
  if (target.empty() && newest.model().version() <= info.model().version()) {
    r.up_to_date = true;
    r.to.collection = collection;
    r.to.model = info.model();
    r.to.item_count = info.item_count();
    return r;
  }
  IngestOptions opt = options;
  opt.collection = target;
  if (target.empty()) {
    opt.collection = absl::StrCat(StripVersionSuffix(collection), "-v", newest.model().version());
  }
  opt.model = newest.model();
  LS_ASSIGN_OR_RETURN(std::vector<v1::Item> items, ListAllItems(search, collection, false));
  items::ImageSource source;
  auto uris = std::make_shared<std::vector<std::string>>();
  for (const v1::Item& item : items) {
    source.ids.push_back(item.id());
    source.labels.push_back(item.label());
    source.uris.push_back(item.uri());
    uris->push_back(item.uri());
  }
  auto mu = std::make_shared<std::mutex>();
  source.image = [uris, mu, resolver](size_t i) -> absl::StatusOr<v1::Image> {
    const std::string& uri = (*uris)[i];
    v1::Image out;
    if (absl::StartsWith(uri, "file:")) {
      LS_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile(uri.substr(5)));
      out.set_encoded(std::move(bytes));
      return out;
    }
    std::lock_guard<std::mutex> l(*mu);
    LS_ASSIGN_OR_RETURN(image::Image img, resolver->Resolve(uri));
    v1::RawImage* raw = out.mutable_raw();
    raw->set_height(img.height);
    raw->set_width(img.width);
    raw->set_channels(img.channels);
    raw->set_pixels(img.pixels.data(), img.pixels.size());
    return out;
  };
  source.keep_alive = uris;
  LS_ASSIGN_OR_RETURN(r.to, Ingest(encoder, search, source, opt));
  return r;
}

std::string ReindexResultJson(const ReindexResult& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("from").String(r.from);
  w.Key("from_model");
  ModelJson(r.from_model, &w);
  w.Key("to").String(r.to.collection);
  w.Key("to_model");
  ModelJson(r.to.model, &w);
  w.Key("up_to_date").Bool(r.up_to_date);
  w.Key("upserted").Int(r.to.upserted);
  w.Key("skipped").Int(r.to.skipped);
  w.Key("item_count").Int(r.to.item_count);
  w.EndObject();
  return w.str();
}

std::string IngestResultJson(const IngestResult& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("collection").String(r.collection);
  w.Key("model");
  ModelJson(r.model, &w);
  w.Key("created").Bool(r.created);
  w.Key("total").Int(r.total);
  w.Key("skipped").Int(r.skipped);
  w.Key("upserted").Int(r.upserted);
  w.Key("item_count").Int(r.item_count);
  w.Key("seconds").Fixed(r.seconds, 3);
  w.EndObject();
  return w.str();
}

namespace {

// --collection, --model, --model_version, --batch, --in_flight.
absl::StatusOr<IngestOptions> IngestOptionsFromFlags() {
  IngestOptions options;
  options.collection = absl::GetFlag(FLAGS_collection);
  options.model.set_name(absl::GetFlag(FLAGS_model));
  options.model.set_version(absl::GetFlag(FLAGS_model_version));
  options.batch_size = absl::GetFlag(FLAGS_batch);
  options.in_flight = absl::GetFlag(FLAGS_in_flight);
  if (options.batch_size < 1 || options.batch_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch=", options.batch_size, ": expected 1..1024"));
  }
  if (options.in_flight < 1 || options.in_flight > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("--in_flight=", options.in_flight, ": expected 1..64"));
  }
  return options;
}

// ingest --reindex: re-encodes --collection into --to.
absl::Status RunReindex(const Endpoint& encoder, const Endpoint& search,
                        const IngestOptions& options, bool json, ProgressLine* bar,
                        std::ostream& out) {
  if (options.collection.empty()) {
    return absl::InvalidArgumentError("--reindex needs --collection=NAME (the one to re-encode)");
  }
  items::ImageResolver resolver;
  LS_ASSIGN_OR_RETURN(ReindexResult r, Reindex(encoder, search, options.collection,
                                               absl::GetFlag(FLAGS_to), options, &resolver));
  bar->Finish();
  if (json) {
    out << ReindexResultJson(r) << "\n";
  } else if (r.up_to_date) {
    out << "collection '" << r.from << "' already holds vectors of the newest version ("
        << ModelText(r.from_model) << "); nothing to re-encode\n";
  } else {
    out << absl::StrFormat(
        "re-encoded %d items of '%s' (%s) into '%s' (%s)%s in %.1f s; '%s' is unchanged\n",
        r.to.upserted, r.from, ModelText(r.from_model), r.to.collection, ModelText(r.to.model),
        r.to.skipped > 0 ? absl::StrCat(", ", r.to.skipped, " were already there") : "",
        r.to.seconds, r.from);
  }
  return absl::OkStatus();
}

// The images to ingest (--files or the data set flags) and how the summary
// names them.
absl::StatusOr<items::ImageSource> SourceFromFlags(std::string* what) {
  items::ImageSource source;
  if (!absl::GetFlag(FLAGS_files).empty()) {
    LS_ASSIGN_OR_RETURN(source, items::FilesSource(absl::GetFlag(FLAGS_files)));
    *what = absl::GetFlag(FLAGS_files);
  } else {
    LS_ASSIGN_OR_RETURN(data::DatasetSpec spec, DatasetSpecFromFlags());
    LS_ASSIGN_OR_RETURN(source, items::LoadImageSource(spec));
    *what = absl::StrCat(data::DatasetKindName(spec.kind), ":", spec.path, " [",
                         data::SplitName(spec.split), "]");
  }
  return source;
}

absl::Status RunIngest(const CommandContext& ctx) {
  if (!ctx.positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", ctx.positional[0], "'; flags are --name=value"));
  }
  LS_ASSIGN_OR_RETURN(Endpoint encoder, DialFromFlags(Service::kEncoder));
  LS_ASSIGN_OR_RETURN(Endpoint search, DialFromFlags(Service::kSearch));
  LS_ASSIGN_OR_RETURN(IngestOptions options, IngestOptionsFromFlags());
  const bool json = JsonFromFlags();
  ProgressLine bar(ctx.err, IsTerminal(ctx.err));
  options.progress = [&bar](const IngestProgress& p) {
    const double rate = p.seconds > 0 ? p.done / p.seconds : 0;
    bar.Update(
        absl::StrFormat("ingest %d/%d  %.0f img/s  ETA %s%s", p.done, p.todo, rate,
                        FormatEta(rate > 0 ? (p.todo - p.done) / rate : -1),
                        p.skipped > 0 ? absl::StrCat("  (", p.skipped, " already present)") : ""));
  };
  std::ostream& out = *ctx.out;
  if (absl::GetFlag(FLAGS_reindex)) return RunReindex(encoder, search, options, json, &bar, out);
  std::string what;
  LS_ASSIGN_OR_RETURN(items::ImageSource source, SourceFromFlags(&what));
  if (options.collection.empty()) {
    // Default name: <model>-v<version> of the version that will encode.
    LS_ASSIGN_OR_RETURN(v1::CheckpointMetadata meta,
                        EncoderModel(encoder, options.model.name(), options.model.version()));
    options.collection = DefaultCollectionName(meta.model());
    options.model = meta.model();
  }
  LS_ASSIGN_OR_RETURN(IngestResult r, Ingest(encoder, search, source, options));
  bar.Finish();
  if (json) {
    out << IngestResultJson(r) << "\n";
  } else {
    out << absl::StrFormat(
        "%s collection '%s' (%s): %d of %d items from %s encoded and upserted, %d already "
        "present; %d items now (%.1f s)\n",
        r.created ? "created" : "resumed", r.collection, ModelText(r.model), r.upserted, r.total,
        what, r.skipped, r.item_count, r.seconds);
  }
  return absl::OkStatus();
}

int Run(const CommandContext& ctx) { return ReportError(RunIngest(ctx), *ctx.err); }

}  // namespace

Command IngestCommand() {
  Command c;
  c.name = "ingest";
  c.summary =
      "Encode a data set or your own images through the encoder and upsert them into a "
      "collection for the model version (resumable; --reindex re-encodes a collection).";
  c.usage =
      "(--dataset=cifar10|idx|folder --path=DIR [--split=train|test|all] | --files=PATH) "
      "[--collection=NAME] [--model=default] [--batch=256] [--in_flight=2] | "
      "--reindex --collection=NAME [--to=NEW] [--shards=N --replication_factor=R "
      "--write_consistency=quorum (a new collection on a search cluster)]";
  c.flags = DatasetFlagNames();
  for (std::string& f : ClusterLayoutFlagNames()) c.flags.push_back(std::move(f));
  for (const char* f :
       {"files", "collection", "model", "model_version", "batch", "in_flight", "reindex", "to"}) {
    c.flags.emplace_back(f);
  }
  for (std::string& f : ClientFlagNames({Service::kEncoder, Service::kSearch})) {
    c.flags.push_back(std::move(f));
  }
  c.run = &Run;
  return c;
}

}  // namespace latentsearch::cli
