// Unit tests of the gateway's hand-written Search JSON (search_json.h)
// against protobuf's JSON mapping, which it must match byte for byte:
// seeded random SearchResponses (every printable ASCII character in ids and
// uris, non-ASCII ones that must fall back, NaN, infinities, zeros,
// subnormals, unknown enum values) through ToJson; float text against
// protobuf's SimpleFtoa over random bit patterns; request bodies, hand-made
// edge cases and seeded random ones, through MergeJson against
// JsonStringToMessage (the same status, the same message). Also checks that
// the ordinary bodies really take the fast path.
#include "services/gateway/search_json.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/testing/status_matchers.h"
#include "google/protobuf/stubs/strutil.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.pb.h"
#include "services/gateway/json_mapping.h"

namespace latentsearch::gateway {
namespace {

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

std::string ProtobufJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out, print).ok());
  return out;
}

TEST(SearchJsonTest, EnabledForTheseProtos) { EXPECT_TRUE(FastSearchJsonEnabled()); }

TEST(SearchJsonTest, FloatTextSameAsSimpleFtoa) {
  std::mt19937 rng(7);
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               0.1f,
                               1e-5f,
                               1e30f,
                               16777216.0f,
                               std::numeric_limits<float>::max(),
                               -std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::min(),
                               std::numeric_limits<float>::denorm_min(),
                               FromBits(0x007fffff)};
  for (int i = 0; i < 300000; ++i) values.push_back(FromBits(rng()));
  std::normal_distribution<float> normal(0, 3);
  for (int i = 0; i < 100000; ++i) values.push_back(normal(rng));
  int checked = 0;
  for (float v : values) {
    if (!std::isfinite(v)) continue;
    std::string got;
    AppendJsonFloat(v, &got);
    ASSERT_EQ(got, google::protobuf::SimpleFtoa(v)) << absl::StrFormat("%a", v);
    ++checked;
  }
  EXPECT_GT(checked, 390000);
}

// Text of printable ASCII (every character, '"', '\\', '<', '>' included),
// and now and then a control or non-ASCII character (the fallback).
std::string RandomText(std::mt19937& rng) {
  std::string s;
  const int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(0x20 + rng() % 95));
  switch (rng() % 20) {
    case 0:
      s += "\xc3\xa9";  // é
      break;
    case 1:
      s += "\n";
      break;
    case 2:
      s += "\x7f";
      break;
  }
  return s;
}

float RandomFloat(std::mt19937& rng) {
  switch (rng() % 8) {
    case 0:
      return FromBits(rng());  // NaN, infinities, subnormals now and then
    case 1:
      return 0.0f;
    case 2:
      return -0.0f;
    case 3:
      return static_cast<float>(static_cast<int>(rng() % 100000));
    default:
      return std::normal_distribution<float>(0, 2)(rng);
  }
}

v1::SearchResponse RandomResponse(std::mt19937& rng) {
  v1::SearchResponse r;
  const int n = static_cast<int>(rng() % 12);
  for (int i = 0; i < n; ++i) {
    v1::Neighbor* nb = r.add_neighbors();
    nb->set_id(RandomText(rng));
    nb->set_distance(RandomFloat(rng));
    nb->set_label(static_cast<int32_t>(rng()) >> (rng() % 32));
    if (rng() % 2) nb->set_uri(RandomText(rng));
    if (rng() % 4 == 0) {
      for (int j = 0; j < 5; ++j) nb->add_vector(RandomFloat(rng));
    }
  }
  r.set_metric(static_cast<v1::Metric>(rng() % 5));  // 4 is no Metric
  r.set_index_kind(static_cast<v1::IndexKind>(rng() % 4));
  if (rng() % 2) {
    r.mutable_model()->set_name(RandomText(rng));
    r.mutable_model()->set_version((uint64_t{rng()} << 32 | rng()) >> (rng() % 64));
  }
  r.set_ef(rng() % 3 ? 0 : rng());
  r.set_exact_fallback(rng() % 2);
  r.set_took_micros((uint64_t{rng()} << 32 | rng()) >> (rng() % 64));
  r.set_partial(rng() % 2);
  for (int i = static_cast<int>(rng() % 3); i > 0; --i) r.add_missing_shards(rng() % 300);
  return r;
}

TEST(SearchJsonTest, ResponseSameAsProtobuf) {
  std::mt19937 rng(11);
  int fast = 0;
  for (int i = 0; i < 3000; ++i) {
    const v1::SearchResponse r = RandomResponse(rng);
    const std::string want = ProtobufJson(r);
    ASSERT_EQ(ToJson(r), want) << r.ShortDebugString();
    std::string out = "x";
    if (AppendSearchResponseJson(r, &out)) {
      EXPECT_EQ(out, "x" + want);
      ++fast;
    } else {
      EXPECT_EQ(out, "x");  // untouched when not handled
    }
  }
  EXPECT_GT(fast, 1000);  // ASCII-only responses take the fast path
  v1::SearchResponse unknown;
  v1::Neighbor* n = unknown.add_neighbors();
  n->GetReflection()->MutableUnknownFields(n)->AddVarint(99, 1);
  std::string out;
  EXPECT_FALSE(AppendSearchResponseJson(unknown, &out));
  EXPECT_EQ(ToJson(unknown), ProtobufJson(unknown));
}

// MergeJson (fast path or not) and JsonStringToMessage agree on `body`.
void ExpectSameAsProtobuf(const std::string& body) {
  v1::SearchRequest want, got;
  const bool ok = google::protobuf::util::JsonStringToMessage(body, &want).ok();
  const absl::Status s = MergeJson(body, &got);
  ASSERT_EQ(s.ok(), ok) << body << ": " << s;
  if (ok) {
    EXPECT_EQ(got.SerializeAsString(), want.SerializeAsString()) << body;
  }
}

TEST(SearchJsonTest, RequestEdgeCasesSameAsProtobuf) {
  for (const char* body : {
           R"({})",
           R"( { "vector" : { "values" : [ 1.5 , -2e-3 , 3E+2 ] } , "k" : 10 } )",
           R"({"vector":{"values":[]}})",
           R"({"vector":{}})",
           R"({"vector":{"values":[1e39]}})",
           R"({"vector":{"values":[-1e39]}})",
           R"({"vector":{"values":[3.4028235e38, 3.40282357e38]}})",
           R"({"vector":{"values":[16777217, 123456789012345678]}})",
           R"({"vector":{"values":[-0, -0.0, 0e5, 1e-50, 1e-400, 1e400]}})",
           R"({"vector":{"values":[01]}})",
           R"({"vector":{"values":[1.]}})",
           R"({"vector":{"values":[.5]}})",
           R"({"vector":{"values":[+1]}})",
           R"({"vector":{"values":[1,]}})",
           R"({"vector":{"values":["NaN", "1.5", "Infinity"]}})",
           R"({"vector":{"values":[null]}})",
           R"({"vector":null})",
           R"({"vector":{"values":[1]},"itemId":"x"})",
           R"({"vector":{"values":[1]},"vector":{"values":[2]}})",
           R"({"k":1,"k":2})",
           R"({"k":10.0})",
           R"({"k":"10"})",
           R"({"k":-1})",
           R"({"k":-0})",
           R"({"k":4294967296})",
           R"({"k":4294967295})",
           R"({"k":1e1})",
           R"({"k":null})",
           R"({"ef":7, "labels":[1, -2, 2147483647, -2147483648]})",
           R"({"labels":[2147483648]})",
           R"({"labels":[1,"2"]})",
           R"({"metric":"METRIC_COSINE","indexKind":"INDEX_KIND_HNSW"})",
           R"({"metric":"metric_l1"})",
           R"({"metric":1})",
           R"({"metric":"METRIC_NOPE"})",
           R"({"index_kind":"INDEX_KIND_EXACT","item_id":"a b/c","exclude_self":true})",
           R"({"itemId":"x","item_id":"y"})",
           R"({"includeVectors":false,"allowPartial":true,"excludeSelf":false})",
           R"({"includeVectors":"true"})",
           R"({"collection":"c\"d"})",
           R"({"collection":"caf\u00e9"})",
           "{\"collection\":\"caf\xc3\xa9\"}",
           R"({"image":{"encoded":"AAAA"}})",
           R"({"nope":1})",
           R"({"k":3} x)",
           R"({"k":3})"
           "\n",
           R"([1])",
           R"()",
           R"({"k":3)",
           R"({"k")",
       }) {
    ExpectSameAsProtobuf(body);
  }
}

TEST(SearchJsonTest, RandomRequestsSameAsProtobufAndFast) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0, 1.5f);
  const char* formats[] = {"%g", "%.9g", "%.17g", "%.3e", "%.0f"};
  int fast = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string body = "{\"vector\":{\"values\":[";
    const int dim = 1 + static_cast<int>(rng() % 80);
    const char* format = formats[rng() % 5];
    for (int j = 0; j < dim; ++j) {
      const float x = rng() % 50 == 0 ? FromBits(rng()) : normal(rng);
      if (!std::isfinite(x)) {
        absl::StrAppend(&body, j ? "," : "", "0");
        continue;
      }
      absl::StrAppend(&body, j ? "," : "",
                      rng() % 2 ? absl::StrCat(x) : absl::StrFormat(format, x));
    }
    absl::StrAppend(&body, "]},\"k\":", rng() % 100, ",\"metric\":\"METRIC_",
                    rng() % 2 ? "L2" : "COSINE", "\"}");
    ExpectSameAsProtobuf(body);
    v1::SearchRequest probe;
    fast += MergeSearchRequestJson(body, &probe);
  }
  EXPECT_GT(fast, 1500);  // the others hold integers of more than 15 digits
  v1::SearchRequest r;
  EXPECT_TRUE(MergeSearchRequestJson(
      R"({"vector":{"values":[0.25,-1.5e-3,7]},"k":10,"metric":"METRIC_L2"})", &r));
  EXPECT_EQ(r.vector().values_size(), 3);
  EXPECT_EQ(r.k(), 10u);
  EXPECT_FALSE(MergeSearchRequestJson(R"({"k":0})", &r));  // r is not empty
  EXPECT_OK(MergeJson(R"({"k":0})", &r));                  // protobuf's path applies the zero
  EXPECT_EQ(r.k(), 0u);
  v1::SearchRequest untouched;
  EXPECT_FALSE(MergeSearchRequestJson(R"({"k":10,"metric":1})", &untouched));
  EXPECT_EQ(untouched.k(), 0u);
}

}  // namespace
}  // namespace latentsearch::gateway
