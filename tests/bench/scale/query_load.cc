// Recall and load over gRPC for the scale benchmark (query_load.h).
// Thread-safety: as the header says.
#include "tests/bench/scale/query_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/base/status_macros.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"

namespace latentsearch::bench {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status Call(v1::Search::Stub* stub, const v1::SearchRequest& req, v1::SearchResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(1));
  return rpc::FromGrpcStatus(stub->Search(&ctx, req, resp));
}

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  const size_t at = std::min(v->size() - 1, static_cast<size_t>(p * v->size()));
  std::nth_element(v->begin(), v->begin() + at, v->end());
  return (*v)[at];
}

}  // namespace

absl::StatusOr<RecallFigure> MeasureRecall(v1::Search::Stub* stub,
                                           const std::vector<v1::SearchRequest>& requests,
                                           const std::vector<std::vector<uint32_t>>& truth) {
  RecallFigure out;
  std::vector<std::vector<uint32_t>> got(std::min(requests.size(), truth.size()));
  for (size_t q = 0; q < got.size(); ++q) {
    v1::SearchResponse resp;
    LS_RETURN_IF_ERROR(Call(stub, requests[q], &resp));
    out.exact_fallbacks += resp.exact_fallback();
    for (const v1::Neighbor& nb : resp.neighbors()) {
      absl::string_view id(nb.id());
      uint32_t row = 0;
      if (!absl::ConsumePrefix(&id, "v") || !absl::SimpleAtoi(id, &row)) {
        return absl::InternalError(absl::StrCat("unexpected item id '", nb.id(), "'"));
      }
      got[q].push_back(row);
    }
  }
  double sum = 0;
  for (size_t q = 0; q < got.size(); ++q) {
    size_t hits = 0;
    for (uint32_t row : got[q]) {
      hits += std::find(truth[q].begin(), truth[q].end(), row) != truth[q].end();
    }
    sum += truth[q].empty() ? 1.0 : static_cast<double>(hits) / truth[q].size();
  }
  out.recall = got.empty() ? 0 : sum / got.size();
  return out;
}

absl::StatusOr<LoadFigure> MeasureLoad(v1::Search::Stub* stub,
                                       const std::vector<v1::SearchRequest>& requests,
                                       int concurrency, double seconds) {
  if (requests.empty()) return absl::InvalidArgumentError("no requests");
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> latencies_us;
  absl::Status first_error;
  auto worker = [&](int t) {
    std::vector<double> mine;
    v1::SearchResponse resp;
    for (size_t i = t; !stop.load(); i += concurrency) {
      const Clock::time_point start = Clock::now();
      absl::Status s = Call(stub, requests[i % requests.size()], &resp);
      mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (first_error.ok()) first_error = s;
        stop = true;
      }
    }
    std::lock_guard<std::mutex> l(mu);
    latencies_us.insert(latencies_us.end(), mine.begin(), mine.end());
  };
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) threads.emplace_back(worker, t);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measured window
  stop = true;
  for (std::thread& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  LS_RETURN_IF_ERROR(first_error);
  LoadFigure out;
  out.calls = latencies_us.size();
  out.qps = out.calls / elapsed;
  out.p50_us = Percentile(&latencies_us, 0.50);
  out.p99_us = Percentile(&latencies_us, 0.99);
  return out;
}

}  // namespace latentsearch::bench
