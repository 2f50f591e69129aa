// The collection evaluation (common/eval/eval_driver.h) against a fake
// search backend holding four 1-d items, with the expected numbers worked
// out by hand.
#include "common/eval/eval_driver.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::eval {
namespace {

using ::latentsearch::testing::StatusIs;

// Items on a line: a0 = 0, a1 = 6 (class 0), b0 = 2, b1 = 11 (class 1).
// Exact L2 search; "HNSW" answers the same and flags a0's query as an
// exact fallback.
class FakeBackend final : public SearchBackend {
 public:
  explicit FakeBackend(bool labelled = true) {
    const struct {
      const char* id;
      float x;
      int32_t label;
    } items[] = {{"a0", 0, 0}, {"a1", 6, 0}, {"b0", 2, 1}, {"b1", 11, 1}};
    for (const auto& it : items) {
      v1::Item item;
      item.set_id(it.id);
      item.add_vector(it.x);
      item.set_label(labelled ? it.label : -1);
      items_.push_back(item);
    }
  }
  absl::StatusOr<v1::CollectionInfo> GetCollection(const std::string& name) override {
    v1::CollectionInfo info;
    info.set_name(name);
    info.set_dim(1);
    info.mutable_model()->set_name("m");
    info.mutable_model()->set_version(2);
    for (v1::IndexKind kind : {v1::INDEX_KIND_EXACT, v1::INDEX_KIND_HNSW}) {
      v1::IndexStats* s = info.add_indexes();
      s->set_metric(v1::METRIC_L2);
      s->set_kind(kind);
    }
    return info;
  }
  absl::StatusOr<std::vector<v1::Item>> ListAllItems(const std::string&, bool) override {
    return items_;
  }
  absl::Status WaitForIndexes(const std::string&, double) override {
    ++waits;
    return absl::OkStatus();
  }
  absl::StatusOr<v1::SearchBatchResponse> SearchBatch(
      const v1::SearchBatchRequest& request) override {
    ++batches;
    v1::SearchBatchResponse resp;
    for (const v1::SearchRequest& q : request.queries()) {
      const auto self = std::find_if(items_.begin(), items_.end(),
                                     [&](const v1::Item& i) { return i.id() == q.item_id(); });
      const float x = self->vector(0);
      std::vector<v1::Item> sorted = items_;
      std::sort(sorted.begin(), sorted.end(), [&](const v1::Item& a, const v1::Item& b) {
        return std::fabs(a.vector(0) - x) < std::fabs(b.vector(0) - x);
      });
      v1::SearchResponse* r = resp.add_results();
      r->set_exact_fallback(q.index_kind() == v1::INDEX_KIND_HNSW && q.item_id() == "a0");
      for (uint32_t i = 0; i < q.k() && i < sorted.size(); ++i) {
        v1::Neighbor* n = r->add_neighbors();
        n->set_id(sorted[i].id());
        n->set_label(sorted[i].label());
        n->set_distance(std::fabs(sorted[i].vector(0) - x));
      }
    }
    return resp;
  }
  int waits = 0;
  int batches = 0;

 private:
  std::vector<v1::Item> items_;
};

EvalOptions Options() {
  EvalOptions o;
  o.collection = "c";
  o.num_queries = 4;  // all of them
  o.k = 1;
  o.map_depth = 2;
  o.metrics = {v1::METRIC_L2, v1::METRIC_L1};  // L1 is not kept: no rows
  o.baseline = false;
  o.batch_size = 3;
  return o;
}

TEST(EvalDriverTest, HandComputedRows) {
  FakeBackend backend;
  items::ImageResolver resolver;
  ASSERT_OK_AND_ASSIGN(EvalResult r, RunEval(backend, Options(), &resolver));
  EXPECT_EQ(r.collection, "c");
  EXPECT_EQ(r.model.version(), 2u);
  EXPECT_EQ(r.items, 4u);
  EXPECT_EQ(r.num_queries, 4);
  EXPECT_EQ(backend.waits, 1);
  EXPECT_EQ(backend.batches, 4);  // two kinds x ceil(4 / 3)
  ASSERT_EQ(r.rows.size(), 2u);
  // Per query (self first, then the two nearest others; R = 1):
  //   a0: b0 a1 -> P@1 0, AP@2 (1/2)/1;  a1: b0 b1 -> 0, 0;
  //   b0: a0 a1 -> 0, 0;                 b1: a1 b0 -> 0, (1/2)/1.
  const EvalRow* exact = r.Find("model", v1::METRIC_L2, v1::INDEX_KIND_EXACT);
  ASSERT_NE(exact, nullptr);
  EXPECT_DOUBLE_EQ(exact->precision_at_k, 0.0);
  EXPECT_DOUBLE_EQ(exact->precision_at_k_including_self, 1.0);
  EXPECT_DOUBLE_EQ(exact->map, 0.25);
  EXPECT_FALSE(exact->recall_vs_exact.has_value());
  const EvalRow* hnsw = r.Find("model", v1::METRIC_L2, v1::INDEX_KIND_HNSW);
  ASSERT_NE(hnsw, nullptr);
  EXPECT_DOUBLE_EQ(hnsw->map, 0.25);
  ASSERT_TRUE(hnsw->recall_vs_exact.has_value());
  EXPECT_DOUBLE_EQ(*hnsw->recall_vs_exact, 1.0);
  EXPECT_EQ(hnsw->exact_fallbacks, 1u);
}

TEST(EvalDriverTest, RefusesUnlabelledCollectionsAndBadOptions) {
  FakeBackend unlabelled(/*labelled=*/false);
  items::ImageResolver resolver;
  EXPECT_THAT(RunEval(unlabelled, Options(), &resolver).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("labelled")));
  FakeBackend backend;
  EvalOptions o = Options();
  o.k = 0;
  EXPECT_THAT(RunEval(backend, o, &resolver).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_EQ(backend.batches, 0);
}

}  // namespace
}  // namespace latentsearch::eval
