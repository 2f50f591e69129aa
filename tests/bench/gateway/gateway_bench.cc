// gateway_bench: search by vector through latentsearch-gateway (HTTP/JSON,
// keep-alive connections) against gRPC Search straight to the search
// service, at the same concurrency, on one collection of --items random
// --dim-dimensional vectors (seeded, clustered). Starts its own search
// service (--search_threads) and gateway on loopback; prints a markdown
// table of p50, p99 and QPS per path and concurrency, and the ratio of the
// p50s (issue #12's goal: gateway <= 1.3x direct). Phases alternate
// (direct, gateway, direct, gateway, ...) for --rounds rounds so that drift
// in the machine's load hits both alike; each phase is --requests requests
// in total over the threads, after a warm-up.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/rpc/channel.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "grpcpp/client_context.h"
#include "httplib.h"
#include "latentsearch/v1/search.grpc.pb.h"

ABSL_FLAG(int, items, 50000, "Vectors in the collection");
ABSL_FLAG(int, dim, 64, "Vector dimension");
ABSL_FLAG(std::string, concurrency, "1,32", "Comma-separated client thread counts");
ABSL_FLAG(int, requests, 3000, "Requests per phase (over all threads)");
ABSL_FLAG(int, rounds, 3, "Alternating direct/gateway phases per concurrency");
ABSL_FLAG(int, k, 10, "Neighbours per search");
ABSL_FLAG(std::string, metric, "METRIC_L2", "Metric enum name");
ABSL_FLAG(int, search_threads, 0, "--threads of the search service (0 = all cores)");
ABSL_FLAG(double, direct_deadline_seconds, 30,
          "Deadline of each direct gRPC call (as the CLI's --timeout and the gateway's "
          "--backend_timeout_seconds, both 30 s by default); 0 = none");
ABSL_FLAG(bool, breakdown, true,
          "Also measure, one client thread, what a hop costs: GET /healthz (no backend call) "
          "and GetCollection direct vs through the gateway");

namespace latentsearch {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::vector<float>> Vectors(int n, int dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, 0.3f);
  std::vector<std::vector<float>> centres(16, std::vector<float>(dim));
  for (auto& c : centres)
    for (float& x : c) x = noise(rng) * 5;
  std::vector<std::vector<float>> out(n, std::vector<float>(dim));
  for (int i = 0; i < n; ++i) {
    const auto& c = centres[rng() % centres.size()];
    for (int j = 0; j < dim; ++j) out[i][j] = c[j] + noise(rng);
  }
  return out;
}

// The collection keeps only the exact index of `metric`: no HNSW graph is
// built in the background while the measurement runs (the search service
// would share the 2 cores with it).
void Populate(v1::Search::Stub* stub, const std::string& collection, int items, int dim,
              v1::Metric metric) {
  grpc::ClientContext cc;
  v1::CreateCollectionRequest create;
  create.set_name(collection);
  create.set_dim(dim);
  create.add_metrics(metric);
  create.add_index_kinds(v1::INDEX_KIND_EXACT);
  v1::CollectionInfo info;
  grpc::Status s = stub->CreateCollection(&cc, create, &info);
  if (!s.ok()) std::fprintf(stderr, "create: %s\n", s.error_message().c_str());
  auto vectors = Vectors(items, dim, 1);
  grpc::ClientContext up;
  v1::UpsertResponse response;
  auto writer = stub->Upsert(&up, &response);
  for (int begin = 0; begin < items; begin += 2000) {
    v1::UpsertRequest r;
    r.set_collection(collection);
    for (int i = begin; i < std::min(items, begin + 2000); ++i) {
      v1::Item* item = r.add_items();
      item->set_id(absl::StrCat("v", i));
      item->mutable_vector()->Add(vectors[i].begin(), vectors[i].end());
    }
    writer->Write(r);
  }
  writer->WritesDone();
  s = writer->Finish();
  if (!s.ok()) std::fprintf(stderr, "upsert: %s\n", s.error_message().c_str());
}

struct Phase {
  std::vector<double> micros;
  double seconds = 0;
  int errors = 0;
};

// Runs `requests` calls of `call(thread, i)` over `threads` threads.
template <typename Call>
Phase Run(int threads, int requests, Call call) {
  Phase p;
  std::vector<std::vector<double>> per(threads);
  std::atomic<int> next{0}, errors{0};
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i; (i = next.fetch_add(1)) < requests;) {
        const auto a = Clock::now();
        if (!call(t, i)) errors.fetch_add(1);
        per[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
      }
    });
  }
  for (auto& th : pool) th.join();
  p.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& v : per) p.micros.insert(p.micros.end(), v.begin(), v.end());
  std::sort(p.micros.begin(), p.micros.end());
  p.errors = errors.load();
  return p;
}

double Pct(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()))];
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int dim = absl::GetFlag(FLAGS_dim);
  testing::TempDir dir;
  std::vector<std::string> search_argv = {
      testing::BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
      "--data_dir=" + dir.Join("search"), "--log_level=warning"};
  if (absl::GetFlag(FLAGS_search_threads) > 0) {
    search_argv.push_back(absl::StrCat("--threads=", absl::GetFlag(FLAGS_search_threads)));
  }
  auto search = testing::Subprocess::StartServer(search_argv, dir.Join("search.log"));
  if (!search.ok()) return std::fprintf(stderr, "%s\n", search.status().ToString().c_str()), 1;
  auto gateway = testing::Subprocess::StartServer(
      {testing::BinaryPath("latentsearch-gateway"), "--listen=127.0.0.1:0",
       "--search_address=" + (*search)->address(), "--trainer_address=127.0.0.1:1",
       "--encoder_address=127.0.0.1:1", "--log_level=warning"},
      dir.Join("gateway.log"));
  if (!gateway.ok()) return std::fprintf(stderr, "%s\n", gateway.status().ToString().c_str()), 1;
  auto channel = rpc::CreateChannel((*search)->address());
  auto stub = v1::Search::NewStub(channel);
  v1::Metric metric = v1::METRIC_L2;
  v1::Metric_Parse(absl::GetFlag(FLAGS_metric), &metric);
  Populate(stub.get(), "bench", absl::GetFlag(FLAGS_items), dim, metric);
  const auto queries = Vectors(1000, dim, 2);
  std::vector<v1::SearchRequest> grpc_requests;
  std::vector<std::string> bodies;
  for (const auto& q : queries) {
    v1::SearchRequest r;
    r.set_collection("bench");
    r.mutable_vector()->mutable_values()->Add(q.begin(), q.end());
    r.set_k(absl::GetFlag(FLAGS_k));
    r.set_metric(metric);
    grpc_requests.push_back(r);
    std::string body = "{\"vector\":{\"values\":[";
    for (size_t j = 0; j < q.size(); ++j) absl::StrAppend(&body, j ? "," : "", q[j]);
    absl::StrAppend(&body, "]},\"k\":", absl::GetFlag(FLAGS_k), ",\"metric\":\"",
                    v1::Metric_Name(metric), "\"}");
    bodies.push_back(body);
  }
  const std::string host = (*gateway)->address().substr(0, (*gateway)->address().rfind(':'));
  int port = 0;
  (void)absl::SimpleAtoi((*gateway)->address().substr((*gateway)->address().rfind(':') + 1), &port);
  std::printf(
      "| concurrency | path | p50 (us) | p99 (us) | QPS | errors |\n|---|---|---|---|---|---|\n");
  std::vector<std::string> ratios;
  if (absl::GetFlag(FLAGS_breakdown)) {
    httplib::Client http(host, port);
    http.set_keep_alive(true);
    http.set_tcp_nodelay(true);
    const int n = absl::GetFlag(FLAGS_requests);
    auto healthz = [&](int, int) {
      auto res = http.Get("/healthz");
      return res && res->status == 200;
    };
    auto get_direct = [&](int, int) {
      grpc::ClientContext cc;
      v1::GetCollectionRequest r;
      r.set_name("bench");
      v1::CollectionInfo info;
      return stub->GetCollection(&cc, r, &info).ok();
    };
    auto get_gateway = [&](int, int) {
      auto res = http.Get("/v1/collections/bench");
      return res && res->status == 200;
    };
    for (const auto& [name, call] :
         std::vector<std::pair<const char*, std::function<bool(int, int)>>>{
             {"gateway GET /healthz (no backend call)", healthz},
             {"gRPC GetCollection, direct", get_direct},
             {"gateway GET /v1/collections/bench", get_gateway}}) {
      Run(1, std::max(200, n / 5), call);
      Phase p = Run(1, n, call);
      std::printf("| 1 | %s | %.0f | %.0f | %.0f | %d |\n", name, Pct(p.micros, 0.5),
                  Pct(p.micros, 0.99), p.micros.size() / p.seconds, p.errors);
    }
  }
  for (absl::string_view c : absl::StrSplit(absl::GetFlag(FLAGS_concurrency), ',')) {
    int threads = 1;
    (void)absl::SimpleAtoi(c, &threads);
    std::vector<std::unique_ptr<httplib::Client>> clients;
    for (int t = 0; t < threads; ++t) {
      clients.push_back(std::make_unique<httplib::Client>(host, port));
      clients.back()->set_keep_alive(true);
      clients.back()->set_tcp_nodelay(true);
    }
    const double deadline = absl::GetFlag(FLAGS_direct_deadline_seconds);
    auto direct = [&](int, int i) {
      grpc::ClientContext cc;
      if (deadline > 0) {
        cc.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(deadline * 1e6)));
      }
      v1::SearchResponse response;
      return stub->Search(&cc, grpc_requests[i % grpc_requests.size()], &response).ok();
    };
    auto via_gateway = [&](int t, int i) {
      auto res = clients[t]->Post("/v1/collections/bench:search", bodies[i % bodies.size()],
                                  "application/json");
      return res && res->status == 200;
    };
    const int n = absl::GetFlag(FLAGS_requests);
    Run(threads, std::max(200, n / 5), direct);  // warm-up
    Run(threads, std::max(200, n / 5), via_gateway);
    Phase d, g;
    for (int r = 0; r < absl::GetFlag(FLAGS_rounds); ++r) {
      Phase a = Run(threads, n, direct);
      Phase b = Run(threads, n, via_gateway);
      d.micros.insert(d.micros.end(), a.micros.begin(), a.micros.end());
      g.micros.insert(g.micros.end(), b.micros.begin(), b.micros.end());
      d.seconds += a.seconds;
      g.seconds += b.seconds;
      d.errors += a.errors;
      g.errors += b.errors;
    }
    std::sort(d.micros.begin(), d.micros.end());
    std::sort(g.micros.begin(), g.micros.end());
    for (const auto& [name, p] : {std::pair<const char*, Phase*>{"gRPC Search, direct", &d},
                                  {"gateway POST :search", &g}}) {
      std::printf("| %d | %s | %.0f | %.0f | %.0f | %d |\n", threads, name, Pct(p->micros, 0.5),
                  Pct(p->micros, 0.99), p->micros.size() / p->seconds, p->errors);
    }
    ratios.push_back(absl::StrFormat("concurrency %d: gateway p50 / direct p50 = %.2f", threads,
                                     Pct(g.micros, 0.5) / Pct(d.micros, 0.5)));
  }
  std::printf("\n");
  for (const std::string& r : ratios) std::printf("- %s\n", r.c_str());
  std::printf("\n(%d x %d collection, exact %s, k %d; %d requests x %d rounds per path)\n",
              absl::GetFlag(FLAGS_items), dim, absl::GetFlag(FLAGS_metric).c_str(),
              absl::GetFlag(FLAGS_k), absl::GetFlag(FLAGS_requests), absl::GetFlag(FLAGS_rounds));
  (*gateway)->Stop(15);
  (*search)->Stop(15);
  return 0;
}

}  // namespace
}  // namespace latentsearch

int main(int argc, char** argv) { return latentsearch::Main(argc, argv); }
