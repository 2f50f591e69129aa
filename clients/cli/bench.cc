#include "clients/cli/bench.h"

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/load_gen.h"
#include "clients/cli/pipeline_flags.h"
#include "common/base/status_macros.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "common/rpc/status_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"

ABSL_FLAG(uint64_t, populate, 0,
          "If > 0, first create the collection and fill it with this many vectors.");
ABSL_FLAG(uint32_t, dim, 64, "Vector dimension when populating.");
ABSL_FLAG(uint32_t, clusters, 0,
          "When populating: 0 = uniform random vectors, N = Gaussian clusters "
          "around N centres (CIFAR-10-like).");
ABSL_FLAG(uint64_t, populate_seed, 1, "Seed of the generated vectors and queries.");
ABSL_FLAG(std::string, concurrency, "1,8,32", "Comma-separated client concurrencies.");
ABSL_FLAG(double, duration_seconds, 5, "Measured seconds per row.");

ABSL_FLAG(std::string, rpc, "search",
          "What to load: search (Search on --collection) or encode (Encode on the encoder "
          "at --encoder_address with random images).");
ABSL_FLAG(std::string, image_shape, "28x28x1",
          "encode: HEIGHTxWIDTHxCHANNELS of the random raw images sent.");
ABSL_FLAG(int, images_per_request, 1, "encode: images per Encode request (1..1024).");

namespace latentsearch::cli {
namespace {

absl::StatusOr<v1::Metric> ParseMetricFlag(const std::string& m) {
  if (m == "l1") return v1::METRIC_L1;
  if (m == "l2") return v1::METRIC_L2;
  if (m == "cosine") return v1::METRIC_COSINE;
  return absl::InvalidArgumentError(
      absl::StrCat("--metric=", m, " is not a metric; use l1, l2 or cosine"));
}

std::vector<float> RandomVectors(size_t n, uint32_t dim, uint32_t clusters, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> out(n * dim);
  if (clusters == 0) {
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (float& v : out) v = u(rng);
    return out;
  }
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<float> centres(size_t{clusters} * dim);
  for (float& c : centres) c = g(rng) * 3.f;
  std::uniform_int_distribution<uint32_t> pick(0, clusters - 1);
  for (size_t i = 0; i < n; ++i) {
    uint32_t c = pick(rng);
    for (uint32_t d = 0; d < dim; ++d) out[i * dim + d] = centres[c * dim + d] + g(rng);
  }
  return out;
}

absl::Status Populate(v1::Search::Stub* stub, const std::string& name, uint64_t n, uint32_t dim,
                      std::ostream& out) {
  grpc::ClientContext ctx;
  v1::CreateCollectionRequest create;
  create.set_name(name);
  create.set_dim(dim);
  LS_RETURN_IF_ERROR(ApplyClusterLayoutFlags(&create));
  v1::CollectionInfo info;
  LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->CreateCollection(&ctx, create, &info)));
  std::vector<float> vectors =
      RandomVectors(n, dim, absl::GetFlag(FLAGS_clusters), absl::GetFlag(FLAGS_populate_seed));
  const uint64_t kBatch = 1000;
  for (uint64_t first = 0; first < n; first += kBatch) {
    grpc::ClientContext uctx;
    v1::UpsertResponse resp;
    auto writer = stub->Upsert(&uctx, &resp);
    v1::UpsertRequest req;
    req.set_collection(name);
    for (uint64_t i = first; i < std::min(n, first + kBatch); ++i) {
      v1::Item* item = req.add_items();
      item->set_id(absl::StrCat("v", i));
      item->mutable_vector()->Add(vectors.begin() + i * dim, vectors.begin() + (i + 1) * dim);
    }
    writer->Write(req);
    writer->WritesDone();
    LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(writer->Finish()));
  }
  out << "populated '" << name << "' with " << n << " x " << dim << " vectors\n";
  return absl::OkStatus();
}

// Waits (polling GetCollection) until every HNSW index is READY.
absl::Status WaitForHnsw(v1::Search::Stub* stub, const std::string& name, std::ostream& out) {
  auto start = std::chrono::steady_clock::now();
  while (true) {
    grpc::ClientContext ctx;
    v1::GetCollectionRequest req;
    req.set_name(name);
    v1::CollectionInfo info;
    LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->GetCollection(&ctx, req, &info)));
    bool ready = true;
    for (const v1::IndexStats& s : info.indexes()) {
      if (s.kind() == v1::INDEX_KIND_HNSW && s.state() != v1::INDEX_STATE_READY) ready = false;
    }
    if (ready) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::minutes(30)) {
      return absl::DeadlineExceededError("HNSW indexes not ready after 30 minutes");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  out << absl::StrFormat(
      "HNSW indexes ready after %.1f s\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

// --concurrency as numbers in 1..1024.
absl::StatusOr<std::vector<int>> ParseLevels() {
  std::vector<int> levels;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
    int c = 0;
    if (!absl::SimpleAtoi(part, &c) || c < 1 || c > 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat("--concurrency: '", part, "' is not a number in 1..1024"));
    }
    levels.push_back(c);
  }
  return levels;
}

struct ImageShape {
  int height = 0, width = 0, channels = 0;
};

// --image_shape=HxWxC.
absl::StatusOr<ImageShape> ImageShapeFromFlag() {
  ImageShape s;
  std::vector<std::string> dims = absl::StrSplit(absl::GetFlag(FLAGS_image_shape), 'x');
  if (dims.size() != 3 || !absl::SimpleAtoi(dims[0], &s.height) ||
      !absl::SimpleAtoi(dims[1], &s.width) || !absl::SimpleAtoi(dims[2], &s.channels) ||
      s.height < 1 || s.width < 1 || s.height > 4096 || s.width > 4096 ||
      (s.channels != 1 && s.channels != 3)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--image_shape=", absl::GetFlag(FLAGS_image_shape),
                     ": expected HxWxC with H, W in 1..4096 and C 1 or 3"));
  }
  return s;
}

// 64 Encode requests of `per` images of random pixels each (seeded by
// --populate_seed), for --model/--model_version.
std::vector<v1::EncodeRequest> RandomEncodeRequests(const ImageShape& shape, int per) {
  std::mt19937_64 rng(absl::GetFlag(FLAGS_populate_seed));
  std::vector<v1::EncodeRequest> requests(64);
  for (v1::EncodeRequest& r : requests) {
    r.mutable_model()->set_name(absl::GetFlag(FLAGS_model));
    r.mutable_model()->set_version(absl::GetFlag(FLAGS_model_version));
    for (int i = 0; i < per; ++i) {
      v1::RawImage* raw = r.add_images()->mutable_raw();
      raw->set_height(shape.height);
      raw->set_width(shape.width);
      raw->set_channels(shape.channels);
      std::string px(static_cast<size_t>(shape.height) * shape.width * shape.channels, '\0');
      for (char& p : px) p = static_cast<char>(rng() & 0xff);
      raw->set_pixels(std::move(px));
    }
  }
  return requests;
}

// Encode latency/QPS at each concurrency, next to the health Check no-op.
absl::Status RunEncodeBench(const CommandContext& ctx) {
  std::ostream& out = *ctx.out;
  LS_ASSIGN_OR_RETURN(ImageShape shape, ImageShapeFromFlag());
  const int per = absl::GetFlag(FLAGS_images_per_request);
  if (per < 1 || per > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("--images_per_request=", per, ": expected 1..1024"));
  }
  LS_ASSIGN_OR_RETURN(std::vector<int> levels, ParseLevels());
  LS_ASSIGN_OR_RETURN(Endpoint endpoint, DialFromFlags(Service::kEncoder));
  auto stub = v1::Encoder::NewStub(endpoint.channel);
  // 64 requests of random pixels, cycled.
  const std::vector<v1::EncodeRequest> requests = RandomEncodeRequests(shape, per);
  {
    // One call first: a missing model fails here with the encoder's message.
    grpc::ClientContext c0;
    SetDeadline(endpoint, &c0);
    v1::EncodeResponse resp;
    LS_RETURN_IF_ERROR(RpcError(endpoint, stub->Encode(&c0, requests[0], &resp)));
    out << "encoder " << endpoint.address << ": model " << resp.model().name() << " v"
        << resp.model().version() << ", dim " << resp.dim() << "; " << per << " image(s) of "
        << shape.height << "x" << shape.width << "x" << shape.channels << " per request\n";
  }
  auto health = grpc::health::v1::Health::NewStub(endpoint.channel);
  auto noop = [&](int, uint64_t) {
    grpc::ClientContext cc;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    return RpcError(endpoint, health->Check(&cc, req, &resp));
  };
  std::atomic<uint64_t> queue_us{0}, compute_us{0}, calls{0};
  auto encode = [&](int t, uint64_t i) {
    grpc::ClientContext cc;
    v1::EncodeResponse resp;
    absl::Status s =
        RpcError(endpoint, stub->Encode(&cc, requests[(i * 7 + t * 13) % requests.size()], &resp));
    queue_us.fetch_add(resp.timing().queue_micros(), std::memory_order_relaxed);
    compute_us.fetch_add(resp.timing().compute_micros(), std::memory_order_relaxed);
    calls.fetch_add(1, std::memory_order_relaxed);
    return s;
  };
  absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_duration_seconds));
  out << LoadHeader() << "  p50/no-op  queue us  compute us\n";
  for (int conc : levels) {
    LoadStats n = RunLoad(noop, conc, duration);
    queue_us = 0;
    compute_us = 0;
    calls = 0;
    LoadStats e = RunLoad(encode, conc, duration);
    out << FormatLoadRow("no-op (health Check)", n) << "\n";
    out << FormatLoadRow(absl::StrCat("Encode x", per), e)
        << absl::StrFormat("  %9.2f  %8.1f  %10.1f", n.p50_us > 0 ? e.p50_us / n.p50_us : 0,
                           calls > 0 ? double(queue_us) / calls : 0,
                           calls > 0 ? double(compute_us) / calls : 0)
        << "\n";
    if (!e.first_error.ok()) return e.first_error;
  }
  return absl::OkStatus();
}

// 1,000 Search requests of query vectors from the distribution of
// --clusters (seeded by --populate_seed + 1), for RunBench to cycle through.
std::vector<v1::SearchRequest> RandomSearchRequests(const std::string& name, uint32_t dim,
                                                    v1::Metric metric, const std::string& index) {
  const size_t kQueries = 1000;
  std::vector<float> queries = RandomVectors(kQueries, dim, absl::GetFlag(FLAGS_clusters),
                                             absl::GetFlag(FLAGS_populate_seed) + 1);
  std::vector<v1::SearchRequest> requests(kQueries);
  for (size_t q = 0; q < kQueries; ++q) {
    v1::SearchRequest& r = requests[q];
    r.set_collection(name);
    r.set_k(absl::GetFlag(FLAGS_k));
    r.set_metric(metric);
    r.set_index_kind(index == "hnsw" ? v1::INDEX_KIND_HNSW : v1::INDEX_KIND_EXACT);
    r.set_ef(absl::GetFlag(FLAGS_ef));
    r.mutable_vector()->mutable_values()->Add(queries.begin() + q * dim,
                                              queries.begin() + (q + 1) * dim);
  }
  return requests;
}

absl::Status RunBench(const CommandContext& ctx) {
  std::ostream& out = *ctx.out;
  const std::string rpc_kind = absl::GetFlag(FLAGS_rpc);
  if (rpc_kind == "encode") return RunEncodeBench(ctx);
  if (rpc_kind != "search") {
    return absl::InvalidArgumentError(
        absl::StrCat("--rpc=", rpc_kind, ": expected search or encode"));
  }
  const std::string metric_name =
      absl::GetFlag(FLAGS_metric).empty() ? "l2" : absl::GetFlag(FLAGS_metric);
  LS_ASSIGN_OR_RETURN(v1::Metric metric, ParseMetricFlag(metric_name));
  const std::string index =
      absl::GetFlag(FLAGS_index).empty() ? "exact" : absl::GetFlag(FLAGS_index);
  if (index != "exact" && index != "hnsw") {
    return absl::InvalidArgumentError(
        absl::StrCat("--index=", index, " is not an index kind; use exact or hnsw"));
  }
  LS_ASSIGN_OR_RETURN(std::vector<int> levels, ParseLevels());
  LS_ASSIGN_OR_RETURN(Endpoint endpoint, DialFromFlags(Service::kSearch));
  auto channel = endpoint.channel;
  auto stub = v1::Search::NewStub(channel);
  const std::string name =
      absl::GetFlag(FLAGS_collection).empty() ? "bench" : absl::GetFlag(FLAGS_collection);
  if (absl::GetFlag(FLAGS_populate) > 0) {
    LS_RETURN_IF_ERROR(
        Populate(stub.get(), name, absl::GetFlag(FLAGS_populate), absl::GetFlag(FLAGS_dim), out));
  }
  grpc::ClientContext gctx;
  v1::GetCollectionRequest get;
  get.set_name(name);
  v1::CollectionInfo info;
  LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->GetCollection(&gctx, get, &info)));
  if (index == "hnsw") LS_RETURN_IF_ERROR(WaitForHnsw(stub.get(), name, out));
  out << "collection '" << name << "': " << info.item_count() << " items, dim " << info.dim()
      << "; k=" << absl::GetFlag(FLAGS_k) << ", metric " << metric_name << ", index " << index
      << "\n";

  // 1,000 query vectors from the same distribution, cycled.
  const std::vector<v1::SearchRequest> requests =
      RandomSearchRequests(name, info.dim(), metric, index);
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto noop = [&](int, uint64_t) {
    grpc::ClientContext c;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    return rpc::FromGrpcStatus(health->Check(&c, req, &resp));
  };
  std::atomic<uint64_t> server_us{0}, server_calls{0};
  auto search = [&](int t, uint64_t i) {
    grpc::ClientContext c;
    v1::SearchResponse resp;
    absl::Status s = rpc::FromGrpcStatus(
        stub->Search(&c, requests[(i * 7919 + t * 131) % requests.size()], &resp));
    server_us.fetch_add(resp.took_micros(), std::memory_order_relaxed);
    server_calls.fetch_add(1, std::memory_order_relaxed);
    return s;
  };
  absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_duration_seconds));
  out << LoadHeader() << "  p50/no-op  server us\n";
  for (int c : levels) {
    LoadStats n = RunLoad(noop, c, duration);
    server_us = 0;
    server_calls = 0;
    LoadStats s = RunLoad(search, c, duration);
    out << FormatLoadRow("no-op (health Check)", n) << "\n";
    out << FormatLoadRow(absl::StrCat("Search ", index), s)
        << absl::StrFormat("  %9.2f  %9.1f", n.p50_us > 0 ? s.p50_us / n.p50_us : 0,
                           server_calls > 0 ? double(server_us) / server_calls : 0)
        << "\n";
    if (!s.first_error.ok()) return s.first_error;
  }
  return absl::OkStatus();
}

int Run(const CommandContext& ctx) { return ReportError(RunBench(ctx), *ctx.err); }

}  // namespace

Command BenchCommand() {
  std::vector<std::string> flags = {"rpc",
                                    "encoder_address",
                                    "model",
                                    "model_version",
                                    "image_shape",
                                    "images_per_request",
                                    "search_address",
                                    "timeout",
                                    "collection",
                                    "populate",
                                    "dim",
                                    "clusters",
                                    "populate_seed",
                                    "concurrency",
                                    "duration_seconds",
                                    "k",
                                    "metric",
                                    "index",
                                    "ef"};
  for (std::string& f : TransportFlagNames()) flags.push_back(std::move(f));
  for (std::string& f : ClusterLayoutFlagNames()) flags.push_back(std::move(f));
  return Command{
      "bench",
      "Load-test the search service (Search) or the encoder (--rpc=encode): latency/QPS vs "
      "a no-op RPC at several concurrencies.",
      "[--rpc=search|encode] [--search_address=HOST:PORT] [--collection=NAME] [--populate=N "
      "--dim=D "
      "--clusters=C] [--concurrency=1,8,32] [--duration_seconds=5] [--metric=l2] "
      "[--index=exact|hnsw] [--k=10] [--ef=0] | --rpc=encode [--encoder_address=HOST:PORT] "
      "[--model=default] [--image_shape=28x28x1] [--images_per_request=1] [--concurrency=...]",
      flags, &Run};
}

}  // namespace latentsearch::cli
