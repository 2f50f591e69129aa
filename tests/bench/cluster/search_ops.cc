// Calls on a Search endpoint for the cluster benchmark (search_ops.h).
// Thread-safety: as the header says.
#include "tests/bench/cluster/search_ops.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/rpc/status_util.h"
#include "tests/bench/cluster/bench_options.h"

namespace latentsearch::bench {
namespace {

constexpr absl::Duration kCallTimeout = absl::Minutes(2);

// One Upsert stream holding items [first, first + count) of `vectors`.
absl::Status UpsertRows(v1::Search::Stub* stub, const std::string& name, uint64_t first,
                        const std::vector<float>& vectors, uint64_t count, uint32_t dim) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, kCallTimeout);
  v1::UpsertResponse resp;
  auto writer = stub->Upsert(&ctx, &resp);
  v1::UpsertRequest req;
  req.set_collection(name);
  for (uint64_t i = 0; i < count; ++i) {
    v1::Item* item = req.add_items();
    item->set_id(ItemId(first + i));
    item->mutable_vector()->Assign(vectors.begin() + i * dim, vectors.begin() + (i + 1) * dim);
  }
  writer->Write(req);
  writer->WritesDone();
  return rpc::FromGrpcStatus(writer->Finish());
}

}  // namespace

void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
}

absl::Status CreateL2Collection(v1::Search::Stub* stub, const std::string& name, uint32_t dim,
                                uint32_t shards, uint32_t replication_factor) {
  v1::CreateCollectionRequest req;
  req.set_name(name);
  req.set_dim(dim);
  req.add_metrics(v1::METRIC_L2);
  if (shards > 1) req.set_shards(shards);
  if (replication_factor > 1) req.set_replication_factor(replication_factor);
  absl::StatusOr<double> waited = PollUntil(
      "CreateCollection " + name,
      [&](std::string* state) -> absl::StatusOr<bool> {
        grpc::ClientContext ctx;
        SetDeadline(&ctx, kCallTimeout);
        v1::CollectionInfo info;
        absl::Status s = rpc::FromGrpcStatus(stub->CreateCollection(&ctx, req, &info));
        *state = s.ToString();
        if (s.ok()) return true;
        if (absl::IsUnavailable(s) || absl::IsFailedPrecondition(s)) return false;
        return s;
      },
      absl::Minutes(1), absl::Milliseconds(500));
  return waited.status();
}

absl::StatusOr<double> Upload(v1::Search::Stub* stub, const std::string& name,
                              const Dataset& data) {
  const auto start = std::chrono::steady_clock::now();
  auto last_log = start;
  for (uint64_t b = 0; b < data.num_batches(); ++b) {
    if (Interrupted()) return absl::CancelledError("interrupted");
    const std::vector<float> rows = data.Batch(b);
    const uint64_t count = rows.size() / data.dim();
    LS_RETURN_IF_ERROR(UpsertRows(stub, name, b * Dataset::kBatch, rows, count, data.dim()));
    if (b == 0) LS_RETURN_IF_ERROR(UpsertRows(stub, name, 0, rows, 1, data.dim()));
    const auto now = std::chrono::steady_clock::now();
    if (now - last_log > std::chrono::seconds(30)) {
      LOG(INFO) << name << ": uploaded " << (b + 1) * Dataset::kBatch << " of " << data.n();
      last_log = now;
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status SnapshotCollection(v1::Search::Stub* stub, const std::string& name) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Minutes(10));
  v1::SnapshotRequest req;
  req.set_collection(name);
  v1::SnapshotResponse resp;
  return rpc::FromGrpcStatus(stub->Snapshot(&ctx, req, &resp));
}

std::vector<v1::SearchRequest> MakeQueries(const std::string& name,
                                           const std::vector<float>& vectors, uint32_t dim,
                                           uint32_t count, v1::IndexKind kind, uint32_t k,
                                           uint32_t ef) {
  std::vector<v1::SearchRequest> out(count);
  for (uint32_t q = 0; q < count; ++q) {
    v1::SearchRequest& r = out[q];
    r.set_collection(name);
    r.set_metric(v1::METRIC_L2);
    r.set_index_kind(kind);
    r.set_k(k);
    if (kind == v1::INDEX_KIND_HNSW) r.set_ef(ef);
    r.mutable_vector()->mutable_values()->Assign(vectors.begin() + size_t{q} * dim,
                                                 vectors.begin() + size_t{q + 1} * dim);
  }
  return out;
}

absl::StatusOr<double> PollUntil(const std::string& what,
                                 const std::function<absl::StatusOr<bool>(std::string*)>& check,
                                 absl::Duration timeout, absl::Duration every) {
  const absl::Time start = absl::Now();
  absl::Time last_log = start;
  std::string state = "no answer yet";
  while (true) {
    if (Interrupted()) return absl::CancelledError(absl::StrCat("interrupted: ", what));
    LS_ASSIGN_OR_RETURN(bool done, check(&state));
    const absl::Time now = absl::Now();
    if (done) return absl::ToDoubleSeconds(now - start);
    if (now - start > timeout) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": not done after ", absl::FormatDuration(timeout), "; ", state));
    }
    if (now - last_log > absl::Seconds(30)) {
      LOG(INFO) << what << ": waiting ("
                << absl::FormatDuration(absl::Trunc(now - start, absl::Seconds(1)))
                << "): " << state;
      last_log = now;
    }
    absl::SleepFor(every);  // polling a condition, bounded by `timeout`
  }
}

absl::StatusOr<bool> GraphsReady(v1::Search::Stub* stub, const std::string& name, uint64_t n,
                                 const v1::SearchRequest& probe, std::string* state,
                                 double* build_seconds) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(30));
  v1::GetCollectionRequest get;
  get.set_name(name);
  v1::CollectionInfo info;
  absl::Status s = rpc::FromGrpcStatus(stub->GetCollection(&ctx, get, &info));
  if (!s.ok()) {
    *state = s.ToString();
    if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) return false;
    return s;
  }
  uint64_t graph_items = 0;
  v1::IndexState graph_state = v1::INDEX_STATE_UNSPECIFIED;
  for (const v1::IndexStats& i : info.indexes()) {
    if (i.kind() != v1::INDEX_KIND_HNSW || i.metric() != v1::METRIC_L2) continue;
    graph_items = i.items();
    graph_state = i.state();
    *build_seconds = i.last_build_seconds();
  }
  *state = absl::StrCat(info.item_count(), " items, L2 graph ", v1::IndexState_Name(graph_state),
                        " over ", graph_items);
  if (info.item_count() != n || graph_items != n || graph_state != v1::INDEX_STATE_READY) {
    return false;
  }
  grpc::ClientContext sctx;
  SetDeadline(&sctx, absl::Seconds(30));
  v1::SearchResponse resp;
  s = rpc::FromGrpcStatus(stub->Search(&sctx, probe, &resp));
  if (!s.ok()) {
    *state = absl::StrCat(*state, "; probe: ", s.ToString());
    return absl::IsUnavailable(s) ? absl::StatusOr<bool>(false) : s;
  }
  return !resp.exact_fallback() && !resp.partial();
}

absl::StatusOr<Prepared> PrepareCollection(v1::Search::Stub* stub, const std::string& name,
                                           const Dataset& data, uint32_t shards,
                                           uint32_t replication_factor,
                                           const std::function<absl::Status()>& restart,
                                           absl::Duration timeout) {
  Prepared out;
  LS_RETURN_IF_ERROR(CreateL2Collection(stub, name, data.dim(), shards, replication_factor));
  LOG(INFO) << name << ": created (" << shards << " x " << replication_factor << "), uploading "
            << data.n() << " x " << data.dim();
  LS_ASSIGN_OR_RETURN(out.upload_seconds, Upload(stub, name, data));
  LS_RETURN_IF_ERROR(SnapshotCollection(stub, name));
  LOG(INFO) << name << ": uploaded in " << out.upload_seconds
            << " s; restarting to build each graph once over every item";
  const auto start = std::chrono::steady_clock::now();
  LS_RETURN_IF_ERROR(restart());
  const v1::SearchRequest probe =
      MakeQueries(name, data.Queries(1), data.dim(), 1, v1::INDEX_KIND_HNSW, 10, 0)[0];
  LS_RETURN_IF_ERROR(PollUntil(
                         name + ": serving with complete graphs",
                         [&](std::string* state) {
                           return GraphsReady(stub, name, data.n(), probe, state,
                                              &out.build_seconds);
                         },
                         timeout, absl::Milliseconds(500))
                         .status());
  out.ready_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LOG(INFO) << name << ": graphs ready " << out.ready_seconds << " s after the restart";
  return out;
}

absl::StatusOr<RecallResult> MeasureRecall(v1::Search::Stub* stub,
                                           const std::vector<v1::SearchRequest>& exact,
                                           const std::vector<v1::SearchRequest>& hnsw) {
  RecallResult out;
  double sum = 0;
  for (size_t q = 0; q < exact.size() && q < hnsw.size(); ++q) {
    if (Interrupted()) return absl::CancelledError("interrupted");
    v1::SearchResponse e, h;
    grpc::ClientContext ectx, hctx;
    SetDeadline(&ectx, kCallTimeout);
    SetDeadline(&hctx, kCallTimeout);
    LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->Search(&ectx, exact[q], &e)));
    LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->Search(&hctx, hnsw[q], &h)));
    if (h.exact_fallback()) {
      return absl::FailedPreconditionError("an HNSW query was answered exactly (graph missing)");
    }
    std::vector<std::string> ids;
    for (const v1::Neighbor& nb : e.neighbors()) ids.push_back(nb.id());
    const std::set<std::string> truth(ids.begin(), ids.end());
    size_t hits = 0;
    for (const v1::Neighbor& nb : h.neighbors()) hits += truth.count(nb.id());
    sum += truth.empty() ? 1.0 : static_cast<double>(hits) / truth.size();
    out.exact_ids.push_back(std::move(ids));
  }
  out.recall = out.exact_ids.empty() ? 0 : sum / out.exact_ids.size();
  return out;
}

double SameIdsFraction(const RecallResult& got, const RecallResult& want) {
  const size_t n = std::min(got.exact_ids.size(), want.exact_ids.size());
  size_t same = 0;
  for (size_t q = 0; q < n; ++q) same += got.exact_ids[q] == want.exact_ids[q];
  return n == 0 ? 0 : static_cast<double>(same) / n;
}

}  // namespace latentsearch::bench
