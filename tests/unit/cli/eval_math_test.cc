// The eval table and JSON, the JSON writer and the contact sheet geometry on
// hand-computed cases (the measures: tests/unit/eval).
#include <cmath>
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

TEST(EvalMathTest, ResultTableAndJson) {
  eval::EvalResult r;
  r.collection = "c";
  r.model.set_name("m");
  r.model.set_version(2);
  r.num_queries = 3;
  r.k = 10;
  r.map_depth = 100;
  eval::EvalRow exact;
  exact.source = "model";
  exact.metric = v1::METRIC_COSINE;
  exact.precision_at_k = 0.5;
  exact.precision_at_k_including_self = 0.55;
  exact.map = 0.25;
  eval::EvalRow hnsw = exact;
  hnsw.index_kind = v1::INDEX_KIND_HNSW;
  hnsw.recall_vs_exact = 0.99;
  r.rows = {exact, hnsw};
  const std::string table = EvalTable(r);
  EXPECT_THAT(table, ::testing::HasSubstr("P@10 incl. self"));
  EXPECT_THAT(table, ::testing::HasSubstr("mAP@100"));
  EXPECT_THAT(table, ::testing::ContainsRegex("model +cosine +hnsw +0.500 +0.550 +0.250 +0.9900"));
  const std::string json = EvalJson(r);
  EXPECT_THAT(json, ::testing::HasSubstr("\"metric\":\"cosine\",\"index\":\"hnsw\""));
  EXPECT_THAT(json, ::testing::HasSubstr("\"recall_vs_exact\":0.99"));
  ASSERT_NE(r.Find("model", v1::METRIC_COSINE, v1::INDEX_KIND_HNSW), nullptr);
  EXPECT_EQ(r.Find("raw pixels", v1::METRIC_COSINE, v1::INDEX_KIND_EXACT), nullptr);
}

TEST(JsonWriterTest, EscapesAndCommas) {
  JsonWriter w;
  w.BeginObject().Key("a\"b").String("x\ny").Key("n").BeginArray().Int(1).Double(0.5).Null();
  w.Double(1.0).Double(0.1f).Double(NAN).Fixed(1.5, 3).EndArray().EndObject();
  EXPECT_EQ(w.str(), "{\"a\\\"b\":\"x\\ny\",\"n\":[1,0.5,null,1,0.1,null,1.500]}");
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
