// Calls on a search node for the scale benchmark (node_calls.h).
// Thread-safety: as the header says.
#include "tests/bench/scale/node_calls.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"

namespace latentsearch::bench {
namespace {

using Clock = std::chrono::steady_clock;

void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
}

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// One Upsert stream of rows [first, first + count).
absl::Status UpsertStream(v1::Search::Stub* stub, const std::string& name, const float* rows,
                          uint64_t first_id, uint64_t first, uint64_t count, uint32_t dim,
                          uint32_t per_message) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Minutes(10));
  v1::UpsertResponse resp;
  std::unique_ptr<grpc::ClientWriter<v1::UpsertRequest>> writer = stub->Upsert(&ctx, &resp);
  for (uint64_t at = first; at < first + count; at += per_message) {
    v1::UpsertRequest req;
    req.set_collection(name);
    const uint64_t end = std::min<uint64_t>(first + count, at + per_message);
    for (uint64_t i = at; i < end; ++i) {
      v1::Item* item = req.add_items();
      item->set_id(absl::StrCat("v", first_id + i));
      item->mutable_vector()->Assign(rows + i * dim, rows + (i + 1) * dim);
    }
    if (!writer->Write(req)) break;  // Finish() says why
  }
  writer->WritesDone();
  LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(writer->Finish()));
  if (resp.upserted() != count) {
    return absl::InternalError(
        absl::StrCat("Upsert acknowledged ", resp.upserted(), " items of ", count));
  }
  return absl::OkStatus();
}

}  // namespace

std::string MetricLabel(v1::Metric metric) {
  switch (metric) {
    case v1::METRIC_L1:
      return "L1";
    case v1::METRIC_L2:
      return "L2";
    case v1::METRIC_COSINE:
      return "cosine";
    default:
      return "?";
  }
}

absl::StatusOr<v1::CollectionInfo> CreateCollection(v1::Search::Stub* stub, const std::string& name,
                                                    uint32_t dim) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Minutes(1));
  v1::CreateCollectionRequest req;
  req.set_name(name);
  req.set_dim(dim);
  v1::CollectionInfo info;
  LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->CreateCollection(&ctx, req, &info)));
  return info;
}

absl::StatusOr<double> Upload(v1::Search::Stub* stub, const std::string& name, const float* rows,
                              uint64_t first_id, uint64_t count, uint32_t dim,
                              const UploadShape& shape) {
  const Clock::time_point start = Clock::now();
  Clock::time_point last_log = start;
  const uint64_t per_stream = uint64_t{shape.items_per_message} * shape.messages_per_stream;
  for (uint64_t at = 0; at < count; at += per_stream) {
    const uint64_t n = std::min(per_stream, count - at);
    LS_RETURN_IF_ERROR(
        UpsertStream(stub, name, rows, first_id, at, n, dim, shape.items_per_message));
    if (Clock::now() - last_log > std::chrono::seconds(20)) {
      LOG(INFO) << name << ": upserted " << at + n << " of " << count;
      last_log = Clock::now();
    }
  }
  return SecondsSince(start);
}

absl::StatusOr<v1::CollectionInfo> GetCollection(v1::Search::Stub* stub, const std::string& name) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(30));
  v1::GetCollectionRequest req;
  req.set_name(name);
  v1::CollectionInfo info;
  LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->GetCollection(&ctx, req, &info)));
  return info;
}

absl::StatusOr<v1::SnapshotResponse> Snapshot(v1::Search::Stub* stub, const std::string& name) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Minutes(30));
  v1::SnapshotRequest req;
  req.set_collection(name);
  v1::SnapshotResponse resp;
  LS_RETURN_IF_ERROR(rpc::FromGrpcStatus(stub->Snapshot(&ctx, req, &resp)));
  return resp;
}

v1::SearchRequest MakeRequest(const std::string& name, v1::Metric metric, v1::IndexKind kind,
                              uint32_t k, uint32_t ef, const float* vector, uint32_t dim) {
  v1::SearchRequest r;
  r.set_collection(name);
  r.set_metric(metric);
  r.set_index_kind(kind);
  r.set_k(k);
  if (kind == v1::INDEX_KIND_HNSW) r.set_ef(ef);
  r.mutable_vector()->mutable_values()->Assign(vector, vector + dim);
  return r;
}

const v1::IndexStats* HnswStats(const v1::CollectionInfo& info, v1::Metric metric) {
  for (const v1::IndexStats& s : info.indexes()) {
    if (s.kind() == v1::INDEX_KIND_HNSW && s.metric() == metric) return &s;
  }
  return nullptr;
}

namespace {

// One poll of WaitReady: GetCollection, then (while *serving is false and
// every graph holds at least 90 % of the items: less would be rebuilt at
// once) one HNSW probe per metric. Sets *serving once
// every probe was answered by its graph; returns whether some HNSW index is
// BUILDING (or absent / empty). UNAVAILABLE counts as "not yet".
absl::StatusOr<bool> Poll(v1::Search::Stub* stub, const std::string& name, uint64_t items,
                          const std::vector<float>& probe, bool* serving, v1::CollectionInfo* info,
                          std::string* state) {
  absl::StatusOr<v1::CollectionInfo> got = GetCollection(stub, name);
  if (!got.ok()) {
    *state = got.status().ToString();
    if (absl::IsUnavailable(got.status()) || absl::IsDeadlineExceeded(got.status())) return true;
    return got.status();
  }
  *info = *got;
  bool busy = info->item_count() != items;
  bool empty = false;
  *state = absl::StrCat(info->item_count(), " items;");
  for (v1::Metric m : kMetrics) {
    const v1::IndexStats* s = HnswStats(*info, m);
    // A graph far behind the items (e.g. one saved by an early automatic
    // snapshot) answers mostly by exact scans of its tail, and the node
    // rebuilds it anyway: it does not count as serving yet.
    if (s == nullptr || s->items() == 0 || s->items() * 10 < info->item_count() * 9) empty = true;
    if (s == nullptr || s->state() == v1::INDEX_STATE_BUILDING) busy = true;
    if (s != nullptr) {
      absl::StrAppend(state, " ", MetricLabel(m), " ", v1::IndexState_Name(s->state()), " over ",
                      s->items());
    }
  }
  if (*serving || empty || info->item_count() != items) return busy || empty;
  bool all = true;
  for (v1::Metric m : kMetrics) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, absl::Minutes(1));
    const v1::SearchRequest req = MakeRequest(name, m, v1::INDEX_KIND_HNSW, 10, 0, probe.data(),
                                              static_cast<uint32_t>(probe.size()));
    v1::SearchResponse resp;
    absl::Status s = rpc::FromGrpcStatus(stub->Search(&ctx, req, &resp));
    if (!s.ok() && !absl::IsUnavailable(s)) return s;
    all = all && s.ok() && !resp.exact_fallback();
  }
  *serving = all;
  return busy;
}

}  // namespace

absl::StatusOr<Readiness> WaitReady(v1::Search::Stub* stub, const std::string& name, uint64_t items,
                                    const std::vector<float>& probe, Clock::time_point since,
                                    absl::Duration timeout, absl::Duration every) {
  Readiness out;
  bool serving = false;
  double quiet_since = -1;  // first poll of the current run of quiet polls
  std::string state = "no answer yet";
  const Clock::time_point start = Clock::now();
  Clock::time_point last_log = start;
  while (true) {
    const double at = SecondsSince(since);
    LS_ASSIGN_OR_RETURN(bool busy, Poll(stub, name, items, probe, &serving, &out.info, &state));
    if (serving && out.serving_seconds < 0) out.serving_seconds = at;
    if (!serving || busy) {
      quiet_since = -1;
    } else if (quiet_since < 0) {
      quiet_since = at;
    } else {
      out.settled_seconds = quiet_since;
      return out;
    }
    if (Clock::now() - start > absl::ToChronoNanoseconds(timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(name,
                                                      ": graphs not serving and settled after ",
                                                      absl::FormatDuration(timeout), "; ", state));
    }
    if (Clock::now() - last_log > std::chrono::seconds(30)) {
      LOG(INFO) << name << ": waiting for the graphs (" << static_cast<int>(at) << " s): " << state;
      last_log = Clock::now();
    }
    absl::SleepFor(every);  // polling the node, bounded by `timeout`
  }
}

}  // namespace latentsearch::bench
