// The collection evaluation (common/eval/eval_driver.h) against a fake
// search backend holding four 1-d items, with the expected numbers worked
// out by hand: item and vector queries, the raw-pixel baseline (1x1 PNGs)
// and the failures (options, query collections, a backend answering the
// wrong number of results, baseline images that do not resolve or differ
// in size).
#include "common/eval/eval_driver.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::eval {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

struct FakeItem {
  const char* id;
  float x;
  int32_t label;
};

v1::Item MakeItem(const FakeItem& it) {
  v1::Item item;
  item.set_id(it.id);
  item.add_vector(it.x);
  item.set_label(it.label);
  return item;
}

// Items on a line: a0 = 0, a1 = 6 (class 0), b0 = 2, b1 = 11 (class 1).
// Exact L2 search, by item id or by the query vector's first value; "HNSW"
// answers the same and flags a0's query as an exact fallback. Other
// collections (AddCollection) serve only as query collections.
class FakeBackend final : public SearchBackend {
 public:
  explicit FakeBackend(bool labelled = true) {
    const FakeItem items[] = {{"a0", 0, 0}, {"a1", 6, 0}, {"b0", 2, 1}, {"b1", 11, 1}};
    for (const FakeItem& it : items) {
      items_.push_back(MakeItem(it));
      if (!labelled) items_.back().set_label(-1);
    }
  }
  // A query collection of `dim` (its items' vectors hold one value each).
  void AddCollection(const std::string& name, const std::vector<FakeItem>& items, uint32_t dim) {
    Other& other = others_[name];
    other.dim = dim;
    for (const FakeItem& it : items) other.items.push_back(MakeItem(it));
  }
  // Item i's uri (the baseline reads its image through it).
  void SetUri(size_t i, const std::string& uri) { items_[i].set_uri(uri); }

  absl::StatusOr<v1::CollectionInfo> GetCollection(const std::string& name) override {
    v1::CollectionInfo info;
    info.set_name(name);
    auto other = others_.find(name);
    info.set_dim(other == others_.end() ? 1 : other->second.dim);
    info.mutable_model()->set_name("m");
    info.mutable_model()->set_version(2);
    for (v1::IndexKind kind : {v1::INDEX_KIND_EXACT, v1::INDEX_KIND_HNSW}) {
      v1::IndexStats* s = info.add_indexes();
      s->set_metric(v1::METRIC_L2);
      s->set_kind(kind);
    }
    return info;
  }
  absl::StatusOr<std::vector<v1::Item>> ListAllItems(const std::string& name, bool) override {
    auto other = others_.find(name);
    return other == others_.end() ? items_ : other->second.items;
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
      if (resp.results_size() + drop_results >= request.queries_size()) break;
      float x = 0;
      if (q.item_id().empty()) {
        x = q.vector().values(0);
      } else {
        const auto self = std::find_if(items_.begin(), items_.end(),
                                       [&](const v1::Item& i) { return i.id() == q.item_id(); });
        x = self->vector(0);
      }
      std::vector<v1::Item> sorted = items_;
      std::stable_sort(sorted.begin(), sorted.end(), [&](const v1::Item& a, const v1::Item& b) {
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
  // Results left off the end of every answer (a broken backend).
  int drop_results = 0;

 private:
  struct Other {
    uint32_t dim = 1;
    std::vector<v1::Item> items;
  };
  std::vector<v1::Item> items_;
  std::map<std::string, Other> others_;
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

TEST(EvalDriverTest, CheckEvalOptionsNamesTheValuesAndTheRanges) {
  EXPECT_OK(CheckEvalOptions(Options()));
  EvalOptions o = Options();
  o.collection.clear();  // not checked here: the CLI fills it in later
  EXPECT_OK(CheckEvalOptions(o));
  o.map_depth = 1000;
  EXPECT_THAT(CheckEvalOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("map_depth 1000")));
  o = Options();
  o.batch_size = 0;
  EXPECT_THAT(CheckEvalOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("batch_size 0")));
  o = Options();
  o.metrics = {v1::METRIC_UNSPECIFIED};
  EXPECT_THAT(CheckEvalOptions(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("METRIC_UNSPECIFIED")));
  // RunEval refuses the same before calling the backend, and an empty
  // collection name too.
  FakeBackend backend;
  EXPECT_THAT(RunEval(backend, o, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("METRIC_UNSPECIFIED")));
  o = Options();
  o.collection.clear();
  EXPECT_THAT(RunEval(backend, o, nullptr).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("collection")));
  EXPECT_EQ(backend.batches, 0);
}

// Held-out queries q0 = 0.5 (class 0) and q1 = 10 (class 1), searched by
// vector; q2 is unlabelled and skipped. No self to leave out: each asks for
// depth = 2 neighbours, R = 2 items of its class.
//   q0: a0 b0 -> P@1 1, AP@2 (1/1)/2;   q1: b1 a1 -> P@1 1, AP@2 (1/1)/2.
TEST(EvalDriverTest, VectorQueriesFromAQueryCollection) {
  FakeBackend backend;
  backend.AddCollection("held", {{"q0", 0.5f, 0}, {"q1", 10, 1}, {"q2", 5, -1}}, 1);
  EvalOptions o = Options();
  o.query_collection = "held";
  ASSERT_OK_AND_ASSIGN(EvalResult r, RunEval(backend, o, nullptr));
  EXPECT_EQ(r.query_collection, "held");
  EXPECT_EQ(r.items, 4u);
  EXPECT_EQ(r.num_queries, 2);
  EXPECT_EQ(backend.batches, 2);  // two kinds x one batch
  ASSERT_EQ(r.rows.size(), 2u);
  const EvalRow* exact = r.Find("model", v1::METRIC_L2, v1::INDEX_KIND_EXACT);
  ASSERT_NE(exact, nullptr);
  EXPECT_DOUBLE_EQ(exact->precision_at_k, 1.0);
  EXPECT_DOUBLE_EQ(exact->precision_at_k_including_self, 1.0);
  EXPECT_DOUBLE_EQ(exact->map, 0.5);
  const EvalRow* hnsw = r.Find("model", v1::METRIC_L2, v1::INDEX_KIND_HNSW);
  ASSERT_NE(hnsw, nullptr);
  EXPECT_DOUBLE_EQ(*hnsw->recall_vs_exact, 1.0);
  EXPECT_EQ(hnsw->exact_fallbacks, 0u);
}

TEST(EvalDriverTest, RefusesQueryCollectionsOfAnotherDimOrWithoutLabels) {
  FakeBackend backend;
  backend.AddCollection("wide", {{"w0", 1, 0}}, 2);
  backend.AddCollection("unlabelled", {{"u0", 1, -1}, {"u1", 3, -1}}, 1);
  EvalOptions o = Options();
  o.query_collection = "wide";
  EXPECT_THAT(RunEval(backend, o, nullptr).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'wide' has dim 2, 'c' has dim 1; they must match")));
  o.query_collection = "unlabelled";
  EXPECT_THAT(RunEval(backend, o, nullptr).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("query collection 'unlabelled' has no labelled items")));
  EXPECT_EQ(backend.batches, 0);
}

TEST(EvalDriverTest, AWrongNumberOfResultsIsAnInternalError) {
  FakeBackend backend;
  backend.drop_results = 1;
  EXPECT_THAT(
      RunEval(backend, Options(), nullptr).status(),
      StatusIs(absl::StatusCode::kInternal, HasSubstr("a batch of 3 queries with 2 results")));
}

// 1x1 grey images whose pixel is 20 x (the item's position), as file: uris
// (`odd` gets a 1x2 image).
void WriteImages(FakeBackend* backend, const ::latentsearch::testing::TempDir& dir,
                 size_t odd = SIZE_MAX) {
  const float xs[] = {0, 6, 2, 11};
  for (size_t i = 0; i < 4; ++i) {
    image::Image img(1, i == odd ? 2 : 1, 1);
    img.pixels[0] = static_cast<uint8_t>(20 * xs[i]);
    ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
    const std::string path = dir.Join(absl::StrCat("item", i, ".png"));
    ASSERT_OK(base::WriteFileAtomically(path, png));
    backend->SetUri(i, "file:" + path);
  }
}

// The pixels order the items as the line does, so the raw-pixel rows (every
// metric asked for, kept by the collection or not) equal the model's exact
// L2 row of HandComputedRows.
TEST(EvalDriverTest, RawPixelBaselineRows) {
  FakeBackend backend;
  ::latentsearch::testing::TempDir dir;
  WriteImages(&backend, dir);
  EvalOptions o = Options();
  o.baseline = true;
  items::ImageResolver resolver;
  ASSERT_OK_AND_ASSIGN(EvalResult r, RunEval(backend, o, &resolver));
  EXPECT_EQ(r.baseline_note, "");
  ASSERT_EQ(r.rows.size(), 4u);
  for (v1::Metric metric : {v1::METRIC_L2, v1::METRIC_L1}) {
    const EvalRow* row = r.Find("raw pixels", metric, v1::INDEX_KIND_EXACT);
    ASSERT_NE(row, nullptr) << MetricLabel(metric);
    EXPECT_DOUBLE_EQ(row->precision_at_k, 0.0);
    EXPECT_DOUBLE_EQ(row->precision_at_k_including_self, 1.0);
    EXPECT_DOUBLE_EQ(row->map, 0.25);
    EXPECT_FALSE(row->recall_vs_exact.has_value());
  }
}

// Without a resolver, with uris that name no image, or with images of
// different sizes the baseline rows are left out and baseline_note says
// why; the model rows stand.
TEST(EvalDriverTest, BaselineSkippedWithANote) {
  EvalOptions o = Options();
  o.baseline = true;
  FakeBackend backend;
  ASSERT_OK_AND_ASSIGN(EvalResult r, RunEval(backend, o, nullptr));
  EXPECT_EQ(r.baseline_note, "skipped: no image resolver");
  EXPECT_EQ(r.rows.size(), 2u);

  items::ImageResolver resolver;  // the items have no uris
  ASSERT_OK_AND_ASSIGN(r, RunEval(backend, o, &resolver));
  EXPECT_THAT(r.baseline_note, HasSubstr("skipped: item uri '' names no image"));
  EXPECT_EQ(r.rows.size(), 2u);

  ::latentsearch::testing::TempDir dir;
  WriteImages(&backend, dir, /*odd=*/2);
  ASSERT_OK_AND_ASSIGN(r, RunEval(backend, o, &resolver));
  EXPECT_THAT(r.baseline_note, HasSubstr("skipped: images differ in size ("));
  EXPECT_THAT(r.baseline_note, HasSubstr("item2.png has 2 bytes, expected 1)"));
  EXPECT_EQ(r.rows.size(), 2u);
}

}  // namespace
}  // namespace latentsearch::eval
