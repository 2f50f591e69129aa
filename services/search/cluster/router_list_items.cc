// ListItems across shards (router_list_items.h).
// Thread-safety: stateless; blocks until every shard answered.
#include "services/search/cluster/router_list_items.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "services/search/cluster/router_shard_read.h"

namespace latentsearch::search::cluster {
namespace {

constexpr uint32_t kMaxPageSize = 10000;  // As collection_manager.cc.

// Every shard's next page after `request.page_token()`, in shard order.
absl::StatusOr<std::vector<v1::ScanShardResponse>> ScanAll(const RouterContext& ctx,
                                                           const v1::CollectionPlacement& placement,
                                                           const v1::ListItemsRequest& request,
                                                           uint32_t page_size,
                                                           absl::Time deadline) {
  const uint32_t shards = static_cast<uint32_t>(placement.shards_size());
  std::vector<absl::StatusOr<v1::ScanShardResponse>> pages(shards, absl::UnknownError("unset"));
  absl::BlockingCounter answered(static_cast<int>(shards));
  auto cancels = std::make_shared<CancelGroup>();
  const std::shared_ptr<const ViewState> state = ctx.view->Current();
  for (uint32_t shard = 0; shard < shards; ++shard) {
    auto scan = std::make_shared<v1::ScanShardRequest>();
    scan->mutable_ref()->set_collection(placement.spec().name());
    scan->mutable_ref()->set_shard(shard);
    scan->set_after_id(request.page_token());
    // One more than the page: a shard that has it has more than the page,
    // so the last page is known without asking again.
    scan->set_page_size(std::min(page_size + 1, kMaxPageSize));
    scan->set_include_vectors(request.include_vectors());
    ShardRead<v1::ScanShardResponse>::Start(
        ctx, ctx.view->ReadOrder(*state, placement, shard), placement.spec().name(), shard,
        "ScanShard",
        [scan](NodeClient& client, absl::Time deadline, Cancellation* cancel,
               NodeClient::Done<v1::ScanShardResponse> done) {
          client.ScanShard(scan, deadline, cancel, std::move(done));
        },
        deadline, cancels,
        [&pages, &answered, shard](absl::StatusOr<v1::ScanShardResponse> r) {
          pages[shard] = std::move(r);
          answered.DecrementCount();
        });
  }
  answered.Wait();
  std::vector<v1::ScanShardResponse> out;
  for (auto& page : pages) {
    if (!page.ok()) return page.status();
    out.push_back(*std::move(page));
  }
  return out;
}

}  // namespace

absl::StatusOr<v1::ListItemsResponse> ListItemsAcrossShards(
    const RouterContext& ctx, const v1::CollectionPlacement& placement,
    const v1::ListItemsRequest& request, absl::Time deadline) {
  if (request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrCat("page_size ", request.page_size(),
                                                   " is out of range; allowed 1..", kMaxPageSize,
                                                   " (0 = 1000)"));
  }
  const uint32_t page_size = request.page_size() == 0 ? 1000 : request.page_size();
  absl::StatusOr<std::vector<v1::ScanShardResponse>> pages =
      ScanAll(ctx, placement, request, page_size, deadline);
  if (!pages.ok()) return pages.status();
  v1::ListItemsResponse out;
  std::vector<v1::Item*> items;
  // Only when the page is the largest one a shard may return (no room for
  // one more) does a shard's next_after_id tell whether it has more.
  const bool full_pages = page_size == kMaxPageSize;
  bool more = false;
  for (v1::ScanShardResponse& page : *pages) {
    out.set_item_count(out.item_count() + page.item_count());
    more = more || (full_pages && !page.next_after_id().empty());
    for (v1::VersionedItem& v : *page.mutable_items()) {
      if (!v.deleted()) items.push_back(v.mutable_item());
    }
  }
  std::sort(items.begin(), items.end(),
            [](const v1::Item* a, const v1::Item* b) { return a->id() < b->id(); });
  more = more || items.size() > page_size;
  if (items.size() > page_size) items.resize(page_size);
  for (v1::Item* item : items) *out.add_items() = std::move(*item);
  if (more && !items.empty()) out.set_next_page_token(out.items(out.items_size() - 1).id());
  return out;
}

}  // namespace latentsearch::search::cluster
