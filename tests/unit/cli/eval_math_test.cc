// The CLI's measures and the contact sheet geometry on hand-computed cases.
#include <vector>

#include "clients/cli/eval.h"
#include "clients/cli/json.h"
#include "clients/cli/query.h"
#include "common/image/grid.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::cli {
namespace {

TEST(EvalMathTest, PrecisionAtK) {
  const std::vector<int32_t> ranked = {1, 0, 1, 1, 2};
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 1), 1.0);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 2), 0.5);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 4), 0.75);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 5), 0.6);
  // Fewer neighbours than k still divide by k.
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 10), 0.3);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 7, 5), 0.0);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 0), 0.0);
}

TEST(EvalMathTest, AveragePrecision) {
  // Relevant at ranks 1, 3, 4 of 5; R = 3:
  // AP = (1/1 + 2/3 + 3/4) / 3 = 0.80555...
  const std::vector<int32_t> ranked = {1, 0, 1, 1, 2};
  EXPECT_NEAR(AveragePrecision(ranked, 1, 100, 3), (1.0 + 2.0 / 3 + 3.0 / 4) / 3, 1e-12);
  // Five relevant items in the collection, three found: divide by min(R, depth) = 5.
  EXPECT_NEAR(AveragePrecision(ranked, 1, 100, 5), (1.0 + 2.0 / 3 + 3.0 / 4) / 5, 1e-12);
  // Depth 2 cuts the list: (1/1) / min(3, 2).
  EXPECT_NEAR(AveragePrecision(ranked, 1, 2, 3), 0.5, 1e-12);
  // Perfect ranking.
  EXPECT_DOUBLE_EQ(AveragePrecision(std::vector<int32_t>{4, 4, 4}, 4, 100, 3), 1.0);
  // Nothing relevant in the collection.
  EXPECT_DOUBLE_EQ(AveragePrecision(ranked, 9, 100, 0), 0.0);
  // A relevant item found only at rank 2: 1/2.
  EXPECT_DOUBLE_EQ(AveragePrecision(std::vector<int32_t>{0, 3}, 3, 100, 1), 0.5);
}

TEST(EvalMathTest, ResultTableAndJson) {
  EvalResult r;
  r.collection = "c";
  r.model.set_name("m");
  r.model.set_version(2);
  r.num_queries = 3;
  r.k = 10;
  r.map_depth = 100;
  EvalRow exact;
  exact.source = "model";
  exact.metric = v1::METRIC_COSINE;
  exact.precision_at_k = 0.5;
  exact.precision_at_k_including_self = 0.55;
  exact.map = 0.25;
  EvalRow hnsw = exact;
  hnsw.index_kind = v1::INDEX_KIND_HNSW;
  hnsw.recall_vs_exact = 0.99;
  r.rows = {exact, hnsw};
  const std::string table = r.ToTable();
  EXPECT_THAT(table, ::testing::HasSubstr("P@10 incl. self"));
  EXPECT_THAT(table, ::testing::HasSubstr("mAP@100"));
  EXPECT_THAT(table, ::testing::ContainsRegex("model +cosine +hnsw +0.500 +0.550 +0.250 +0.9900"));
  const std::string json = r.ToJson();
  EXPECT_THAT(json, ::testing::HasSubstr("\"metric\":\"cosine\",\"index\":\"hnsw\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"recall_vs_exact\":0.99"));
  ASSERT_NE(r.Find("model", v1::METRIC_COSINE, v1::INDEX_KIND_HNSW), nullptr);
  EXPECT_EQ(r.Find("raw pixels", v1::METRIC_COSINE, v1::INDEX_KIND_EXACT), nullptr);
}

TEST(JsonWriterTest, EscapesAndCommas) {
  JsonWriter w;
  w.BeginObject().Key("a\"b").String("x\ny").Key("n").BeginArray().Int(1).Double(0.5).Null();
  w.EndArray().EndObject();
  EXPECT_EQ(w.str(), "{\"a\\\"b\":\"x\\ny\",\"n\":[1,0.5,null]}");
}

QueryResult FakeResult(int rows, int hits) {
  QueryResult r;
  r.query_image = image::Image(28, 28, 1);
  r.query_class = "Coat";
  for (int m = 0; m < rows; ++m) {
    MetricHits row;
    row.metric = static_cast<v1::Metric>(1 + m);
    for (int i = 0; i < hits; ++i) {
      QueryHit h;
      h.rank = i + 1;
      h.id = "test-" + std::to_string(i);
      h.class_name = "Shirt";
      h.distance = 0.25f * i;
      if (i % 2 == 0) h.image = image::Image(32, 32, 3);  // others: missing
      row.hits.push_back(std::move(h));
    }
    r.rows.push_back(std::move(row));
  }
  return r;
}

TEST(ContactSheetTest, SizeFollowsTheDocumentedFormula) {
  SheetOptions options;  // tile 80, margin 2
  ASSERT_OK_AND_ASSIGN(image::Image sheet, RenderContactSheet(FakeResult(3, 10), options));
  EXPECT_EQ(sheet.width, 11 * 80 + 12 * 2);
  EXPECT_EQ(sheet.height, 3 * (80 + image::kCaptionHeight) + 4 * 2);
  EXPECT_EQ(sheet.width, 904);
  EXPECT_EQ(sheet.height, 281);
  EXPECT_EQ(sheet.channels, 3);
  const SheetSize size = ContactSheetSize(10, 3, options);
  EXPECT_EQ(size.width, sheet.width);
  EXPECT_EQ(size.height, sheet.height);

  options.tile = 40;
  options.margin = 5;
  ASSERT_OK_AND_ASSIGN(image::Image small, RenderContactSheet(FakeResult(1, 4), options));
  EXPECT_EQ(small.width, 5 * 40 + 6 * 5);
  EXPECT_EQ(small.height, 1 * (40 + image::kCaptionHeight) + 2 * 5);

  EXPECT_THAT(RenderContactSheet(QueryResult{}, {}),
              ::latentsearch::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                                ::testing::HasSubstr("without results")));
}

}  // namespace
}  // namespace latentsearch::cli
