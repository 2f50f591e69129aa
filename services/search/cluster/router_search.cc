// The router's search fan-out and merge (router_search.h).
// Thread-safety: one SearchRun per call, its state under its mutex.
#include "services/search/cluster/router_search.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/cluster/merge.h"
#include "common/cluster/shard_hash.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::cluster::MergeTopKInto;
using ::latentsearch::cluster::ShardOf;

constexpr uint32_t kMaxEf = 4096;  // As collection_manager.cc.

class SearchRun : public std::enable_shared_from_this<SearchRun> {
 public:
  SearchRun(const RouterContext& ctx, const v1::CollectionPlacement& placement,
            std::shared_ptr<const v1::SearchBatchRequest> batch, absl::Time deadline,
            std::shared_ptr<CancelGroup> cancels, v1::SearchBatchResponse* response,
            RouterSearch::Done done)
      : ctx_(ctx),
        token_(ctx.ops->Hold()),
        placement_(placement),
        batch_(std::move(batch)),
        deadline_(deadline),
        cancels_(std::move(cancels)),
        response_(response),
        done_(std::move(done)),
        state_(ctx.view->Current()) {}

  // Item vectors first (when there are item queries), then the shards.
  void ResolveItems();

 private:
  const std::string& name() const { return placement_.spec().name(); }
  uint32_t shards() const { return static_cast<uint32_t>(placement_.shards_size()); }
  std::string What(uint32_t shard) const {
    return absl::StrCat("shard ", shard, " of collection '", name(), "'");
  }
  void OnItems(absl::StatusOr<v1::GetItemsResponse> r);
  // Missing item ids: NOT_FOUND as the standalone server words it.
  absl::Status CheckItems() const;
  void FanOut();
  // The queries as the nodes get them (item queries as vectors, k + 1
  // for exclude_self).
  v1::SearchBatchRequest NodeBatch() const;
  void OnShard(uint32_t shard, absl::StatusOr<v1::SearchBatchResponse> r);
  void Merge();
  void Finish(const absl::Status& status);

  const RouterContext ctx_;
  const std::shared_ptr<void> token_;
  const v1::CollectionPlacement placement_;
  const std::shared_ptr<const v1::SearchBatchRequest> batch_;
  const absl::Time deadline_;
  const std::shared_ptr<CancelGroup> cancels_;
  v1::SearchBatchResponse* const response_;
  RouterSearch::Done done_;
  const std::shared_ptr<const ViewState> state_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();

  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, v1::Item> items_ ABSL_GUARDED_BY(mu_);
  std::vector<std::optional<v1::SearchBatchResponse>> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> missing_ ABSL_GUARDED_BY(mu_);
};

void SearchRun::ResolveItems() {
  std::map<uint32_t, std::shared_ptr<v1::GetItemsRequest>> by_shard;
  for (const v1::SearchRequest& q : batch_->queries()) {
    if (q.query_case() != v1::SearchRequest::kItemId) continue;
    const uint32_t shard = ShardOf(q.item_id(), shards());
    auto& request = by_shard[shard];
    if (request == nullptr) {
      request = std::make_shared<v1::GetItemsRequest>();
      request->mutable_ref()->set_collection(name());
      request->mutable_ref()->set_shard(shard);
      request->set_include_vectors(true);
    }
    request->add_ids(q.item_id());
  }
  if (by_shard.empty()) return FanOut();
  {
    absl::MutexLock lock(&mu_);
    pending_ = static_cast<int>(by_shard.size());
  }
  auto self = shared_from_this();
  for (auto& [shard, request] : by_shard) {
    ShardRead<v1::GetItemsResponse>::Start(
        ctx_, ctx_.view->ReadOrder(*state_, placement_, shard), name(), shard, "GetItems",
        [request = request](NodeClient& client, absl::Time deadline, Cancellation* cancel,
                            NodeClient::Done<v1::GetItemsResponse> done) {
          client.GetItems(request, deadline, cancel, std::move(done));
        },
        deadline_, cancels_,
        [self](absl::StatusOr<v1::GetItemsResponse> r) { self->OnItems(std::move(r)); });
  }
}

void SearchRun::OnItems(absl::StatusOr<v1::GetItemsResponse> r) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (r.ok()) {
      for (v1::Item& item : *r->mutable_items()) items_[item.id()] = std::move(item);
    }
    if (r.ok() && --pending_ > 0) return;
  }
  if (!r.ok()) return Finish(r.status());
  if (absl::Status s = CheckItems(); !s.ok()) return Finish(s);
  FanOut();
}

absl::Status SearchRun::CheckItems() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // Every item answer is in (no writer left).
  for (int i = 0; i < batch_->queries_size(); ++i) {
    const v1::SearchRequest& q = batch_->queries(i);
    if (q.query_case() != v1::SearchRequest::kItemId || items_.count(q.item_id()) > 0) continue;
    const std::string where = batch_->queries_size() > 1 ? absl::StrCat("query ", i, ": ") : "";
    return absl::NotFoundError(
        absl::StrCat(where, "no item '", q.item_id(), "' in collection '", name(), "'"));
  }
  return absl::OkStatus();
}

v1::SearchBatchRequest SearchRun::NodeBatch() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
  v1::SearchBatchRequest out;
  out.set_collection(name());
  for (const v1::SearchRequest& q : batch_->queries()) {
    v1::SearchRequest* n = out.add_queries();
    *n = q;
    n->clear_collection();
    n->clear_allow_partial();
    n->clear_exclude_self();
    if (q.query_case() != v1::SearchRequest::kItemId) continue;
    const v1::Item& item = items_.at(q.item_id());
    *n->mutable_vector()->mutable_values() = item.vector();
    if (!q.exclude_self()) continue;
    // One more, so that k remain once the item itself is dropped (at most
    // --max_k: then k - 1 may remain).
    const uint32_t k = q.k() == 0 ? 10 : q.k();
    n->set_k(std::min(k + 1, ctx_.options->max_k));
    if (q.ef() != 0) n->set_ef(std::min(std::max(q.ef(), n->k()), kMaxEf));
  }
  return out;
}

void SearchRun::FanOut() {
  const v1::SearchBatchRequest node_batch = NodeBatch();
  {
    absl::MutexLock lock(&mu_);
    pending_ = static_cast<int>(shards());
    answers_.assign(shards(), std::nullopt);
  }
  auto self = shared_from_this();
  for (uint32_t shard = 0; shard < shards(); ++shard) {
    auto request = std::make_shared<v1::ShardSearchRequest>();
    request->mutable_ref()->set_collection(name());
    request->mutable_ref()->set_shard(shard);
    *request->mutable_batch() = node_batch;
    ShardRead<v1::SearchBatchResponse>::Start(
        ctx_, ctx_.view->ReadOrder(*state_, placement_, shard), name(), shard, "SearchShard",
        [request](NodeClient& client, absl::Time deadline, Cancellation* cancel,
                  NodeClient::Done<v1::SearchBatchResponse> done) {
          client.SearchShard(request, deadline, cancel, std::move(done));
        },
        deadline_, cancels_,
        [self, shard](absl::StatusOr<v1::SearchBatchResponse> r) {
          self->OnShard(shard, std::move(r));
        });
  }
}

void SearchRun::OnShard(uint32_t shard, absl::StatusOr<v1::SearchBatchResponse> r) {
  absl::Status fatal;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (r.ok() && r->results_size() != batch_->queries_size()) {
      r = absl::InternalError(absl::StrCat(What(shard), ": the replica answered ",
                                           r->results_size(), " results for ",
                                           batch_->queries_size(), " queries"));
    }
    if (r.ok()) {
      answers_[shard] = *std::move(r);
    } else if (absl::IsUnavailable(r.status()) && batch_->allow_partial() &&
               !cancels_->cancelled()) {
      missing_.push_back(shard);
    } else {
      fatal = r.status();
    }
    if (fatal.ok() && --pending_ > 0) return;
  }
  if (!fatal.ok()) return Finish(fatal);
  Merge();
}

void SearchRun::Merge() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // Every shard answered (no writer left).
  std::sort(missing_.begin(), missing_.end());
  const uint64_t took = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start_)
                            .count();
  for (int q = 0; q < batch_->queries_size(); ++q) {
    const v1::SearchRequest& query = batch_->queries(q);
    v1::SearchResponse* out = response_->add_results();
    std::vector<google::protobuf::RepeatedPtrField<v1::Neighbor>*> lists;
    const uint32_t k = query.k() == 0 ? 10 : query.k();
    const bool drop_self = query.query_case() == v1::SearchRequest::kItemId && query.exclude_self();
    for (auto& answer : answers_) {
      if (!answer) continue;
      v1::SearchResponse* r = answer->mutable_results(q);
      lists.push_back(r->mutable_neighbors());
      out->set_ef(std::max(out->ef(), r->ef()));
      out->set_exact_fallback(out->exact_fallback() || r->exact_fallback());
    }
    MergeTopKInto(lists, drop_self ? k + 1 : k, out->mutable_neighbors());
    auto* neighbors = out->mutable_neighbors();
    if (drop_self) {
      auto self = std::find_if(neighbors->begin(), neighbors->end(),
                               [&](const v1::Neighbor& n) { return n.id() == query.item_id(); });
      if (self != neighbors->end()) neighbors->erase(self);
    }
    if (neighbors->size() > static_cast<int>(k)) {
      neighbors->DeleteSubrange(k, neighbors->size() - k);
    }
    out->set_metric(query.metric() == v1::METRIC_UNSPECIFIED ? v1::METRIC_L2 : query.metric());
    out->set_index_kind(query.index_kind() == v1::INDEX_KIND_HNSW ? v1::INDEX_KIND_HNSW
                                                                  : v1::INDEX_KIND_EXACT);
    *out->mutable_model() = placement_.spec().model();
    out->set_took_micros(took);
    out->set_partial(!missing_.empty());
    for (uint32_t s : missing_) out->add_missing_shards(s);
  }
  if (!missing_.empty() && ctx_.options->on_partial_answer) ctx_.options->on_partial_answer(name());
  Finish(absl::OkStatus());
}

void SearchRun::Finish(const absl::Status& status) {
  RouterSearch::Done done;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    done = std::move(done_);
  }
  // A failed batch stops the other shards' calls.
  if (!status.ok()) cancels_->CancelAll();
  if (!status.ok()) response_->Clear();
  done(status);
}

}  // namespace

void RouterSearch::Run(const RouterContext& ctx, const v1::CollectionPlacement& placement,
                       std::shared_ptr<const v1::SearchBatchRequest> batch, absl::Time deadline,
                       std::shared_ptr<CancelGroup> cancels, v1::SearchBatchResponse* response,
                       Done done) {
  auto run = std::make_shared<SearchRun>(ctx, placement, std::move(batch), deadline,
                                         std::move(cancels), response, std::move(done));
  run->ResolveItems();
}

}  // namespace latentsearch::search::cluster
