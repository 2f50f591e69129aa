// Unit tests of the gateway's parts that need no server: the gRPC code ->
// HTTP status table and error JSON, path/query parameters through the JSON
// mapping, the route table (templates, uniqueness) and the OpenAPI document
// generated from it, token and cookie checks, and thumbnails read only
// under the image roots (symlinks and ".." refused) with their cache.
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/base/json_quote.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.pb.h"
#include "latentsearch/v1/trainer.pb.h"
#include "services/gateway/auth.h"
#include "services/gateway/http_errors.h"
#include "services/gateway/json_mapping.h"
#include "services/gateway/openapi.h"
#include "services/gateway/routes.h"
#include "services/gateway/thumbnails.h"

namespace latentsearch::gateway {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

TEST(HttpErrorsTest, StatusTableAndErrorJson) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDataLoss), 500);
  EXPECT_EQ(CodeName(absl::StatusCode::kFailedPrecondition), "FAILED_PRECONDITION");
  EXPECT_EQ(ErrorJson(absl::NotFoundError("no \"x\"\n"), "search"),
            "{\"error\":{\"code\":\"NOT_FOUND\",\"http_status\":404,\"message\":\"no "
            "\\\"x\\\"\\n\",\"service\":\"search\"}}");
  EXPECT_THAT(ErrorJson(absl::ResourceExhaustedError("big"), "gateway", 413),
              HasSubstr("\"http_status\":413"));
  EXPECT_EQ(base::JsonQuote(std::string("a\x01") + "b"), "\"a\\u0001b\"");
}

TEST(JsonMappingTest, ParametersSetNestedRepeatedAndEnumFields) {
  v1::SearchRequest r;
  ASSERT_OK(MergeJson(R"({"vector": {"values": [1, 2]}, "k": 3})", &r));
  ASSERT_OK(SetField(&r, "metric", {"METRIC_COSINE"}));
  ASSERT_OK(SetField(&r, "labels", {"1,2", "7"}));
  ASSERT_OK(SetField(&r, "exclude_self", {"true"}));
  ASSERT_OK(SetField(&r, "index_kind", {"2"}));
  EXPECT_EQ(r.metric(), v1::METRIC_COSINE);
  EXPECT_EQ(r.index_kind(), v1::INDEX_KIND_HNSW);
  EXPECT_THAT(r.labels(), ::testing::ElementsAre(1, 2, 7));
  EXPECT_TRUE(r.exclude_self());
  EXPECT_EQ(r.k(), 3u);
  v1::DownloadCheckpointRequest d;
  ASSERT_OK(SetField(&d, "model.version", {"12"}));
  ASSERT_OK(SetField(&d, "model.name", {"fm"}));
  EXPECT_EQ(d.model().version(), 12u);
  EXPECT_EQ(d.model().name(), "fm");
  EXPECT_THAT(SetField(&r, "k", {"x"}), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(SetField(&r, "k", {"1", "2"}), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(SetField(&r, "metric", {"MANHATTAN"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("METRIC_L1")));
  EXPECT_THAT(SetField(&r, "nope", {"1"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown parameter")));
  EXPECT_THAT(SetField(&r, "vector", {"1"}), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(MergeJson(R"({"kk": 1})", &r), StatusIs(absl::StatusCode::kInvalidArgument, _));
  v1::Item item;
  item.set_id("a");
  EXPECT_THAT(ToJson(item), HasSubstr("\"label\":0"));  // zeros are printed
}

// ToJson / MergeJson use protobuf's converter with a caching type resolver:
// byte-identical to MessageToJsonString / JsonStringToMessage.
TEST(JsonMappingTest, SameAsProtobufsJsonUtil) {
  v1::SearchResponse response;
  for (int i = 0; i < 3; ++i) {
    v1::Neighbor* n = response.add_neighbors();
    n->set_id("item-" + std::to_string(i));
    n->set_distance(0.125f * i);
    n->set_label(i - 1);
    n->add_vector(1.5f);
  }
  response.set_metric(v1::METRIC_COSINE);
  response.set_took_micros(uint64_t{1} << 40);
  v1::CollectionInfo info;
  info.set_name("c");
  info.add_indexes()->mutable_built_at()->set_seconds(1700000000);
  v1::TrainingEvent event;
  event.mutable_epoch()->set_precision_at_10(0.5);
  event.mutable_epoch()->set_validation_loss(std::nan(""));
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;
  for (const google::protobuf::Message* m :
       std::vector<const google::protobuf::Message*>{&response, &info, &event}) {
    std::string want;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*m, &want, print).ok());
    EXPECT_EQ(ToJson(*m), want);
    std::unique_ptr<google::protobuf::Message> a(m->New()), b(m->New());
    ASSERT_OK(MergeJson(want, a.get()));
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(want, b.get()).ok());
    EXPECT_EQ(a->SerializeAsString(), b->SerializeAsString());
  }
  v1::SearchRequest r;
  ASSERT_OK(MergeJson(R"({"item_id": "x", "indexKind": "INDEX_KIND_HNSW", "labels": [1]})", &r));
  EXPECT_EQ(r.item_id(), "x");
  EXPECT_EQ(r.index_kind(), v1::INDEX_KIND_HNSW);
  EXPECT_THAT(MergeJson(R"({"image": {"encoded": "not base64!"}})", &r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("SearchRequest")));
}

TEST(RoutesTest, TemplatesMatchAndAreUnique) {
  std::set<std::string> seen, ops;
  for (const Route& r : Routes()) {
    EXPECT_TRUE(seen.insert(std::string(r.method) + " " + r.path).second) << r.path;
    EXPECT_TRUE(ops.insert(r.operation).second) << r.operation;
    if (*r.rpc != '\0') {
      EXPECT_NE(r.request, nullptr) << r.operation;
      for (const std::string& p : PathParams(r)) {
        EXPECT_TRUE(HasFieldPath(r.request, p)) << r.operation << " {" << p << "}";
      }
    }
    if (r.body == Body::kJsonOrImage) {
      EXPECT_NE(*r.upload_field, '\0') << r.operation;
    }
  }
  RouteMatch m = MatchRoute("POST", "/v1/collections/fm-v1.2:search");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(std::string(m.route->operation), "Search.Search");
  EXPECT_EQ(m.params["collection"], "fm-v1.2");
  m = MatchRoute("GET", "/v1/checkpoints/fm/3");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params["model.name"], "fm");
  EXPECT_EQ(m.params["model.version"], "3");
  m = MatchRoute("POST", "/v1/collections/c/items:delete");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(std::string(m.route->operation), "Search.Delete");
  m = MatchRoute("DELETE", "/v1/jobs");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.other_method);
  EXPECT_EQ(MatchRoute("GET", "/v1/nothing").route, nullptr);
  m = MatchRoute("GET", "/search.js");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(std::string(m.route->operation), "Gateway.Console");
}

TEST(OpenApiTest, DocumentListsEveryRouteWithSchemas) {
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(OpenApiJson(), &doc).ok());
  const auto& paths = doc.fields().at("paths").struct_value().fields();
  for (const Route& r : Routes()) {
    ASSERT_EQ(paths.count(OpenApiPath(r.path)), 1u) << r.path;
    std::string method = r.method;
    for (char& c : method) c = static_cast<char>(std::tolower(c));
    const auto& op = paths.at(OpenApiPath(r.path)).struct_value().fields().at(method);
    EXPECT_EQ(op.struct_value().fields().at("operationId").string_value(), r.operation);
  }
  const auto& schemas =
      doc.fields().at("components").struct_value().fields().at("schemas").struct_value().fields();
  ASSERT_EQ(schemas.count("latentsearch.v1.SearchRequest"), 1u);
  const auto& item = schemas.at("latentsearch.v1.CollectionInfo").struct_value().fields();
  const auto& count =
      item.at("properties").struct_value().fields().at("itemCount").struct_value().fields();
  EXPECT_EQ(count.at("type").string_value(), "string");  // uint64 as a string
}

TEST(AuthTest, HeaderCookieAndLoopbackRule) {
  const std::string token = "token-0123456789abcdef";
  HttpAuth none(AuthOptions{});
  EXPECT_OK(none.Check("", "", "10.0.0.1"));
  AuthOptions tls;
  tls.tokens = {token};
  tls.tls = true;
  HttpAuth a(tls);
  EXPECT_OK(a.Check("Bearer " + token, "", "10.0.0.1"));
  EXPECT_OK(a.Check("", "x=1; ls_session=" + token + "; y=2", "10.0.0.1"));
  EXPECT_THAT(a.Check("", "", "10.0.0.1"), StatusIs(absl::StatusCode::kUnauthenticated, _));
  EXPECT_THAT(a.Check("Bearer wrong", "", "10.0.0.1"),
              StatusIs(absl::StatusCode::kUnauthenticated, _));
  EXPECT_THAT(a.Check("Basic abc", "", "10.0.0.1"),
              StatusIs(absl::StatusCode::kUnauthenticated, _));
  EXPECT_THAT(a.SessionCookie(token), HasSubstr("HttpOnly; SameSite=Strict; Secure"));
  AuthOptions plain;
  plain.tokens = {token};
  EXPECT_THAT(HttpAuth::Validate(plain), StatusIs(absl::StatusCode::kInvalidArgument, _));
  plain.allow_insecure_tokens = true;
  EXPECT_OK(HttpAuth::Validate(plain));
  HttpAuth local(plain);
  EXPECT_OK(local.Check("Bearer " + token, "", "127.0.0.1"));
  EXPECT_THAT(local.Check("Bearer " + token, "", "192.168.1.2"),
              StatusIs(absl::StatusCode::kPermissionDenied, _));
  EXPECT_EQ(local.SessionCookie(token).find("Secure"), std::string::npos);
}

class ThumbnailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.Join("root");
    ASSERT_EQ(::mkdir(root_.c_str(), 0755), 0);
    image::Image img(10, 20, 3);
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i);
    ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
    std::ofstream(root_ + "/a.png") << png;
    std::ofstream(dir_.Join("outside.png")) << png;
    std::ofstream(root_ + "/text.png") << "not an image";
    ASSERT_EQ(::symlink(dir_.Join("outside.png").c_str(), (root_ + "/link.png").c_str()), 0);
    ThumbnailOptions o;
    o.image_roots = {root_};
    ASSERT_OK_AND_ASSIGN(thumbs_, Thumbnailer::Create(o));
  }
  latentsearch::testing::TempDir dir_;
  std::string root_;
  std::unique_ptr<Thumbnailer> thumbs_;
};

TEST_F(ThumbnailTest, ServesUnderRootsOnlyAndCaches) {
  ASSERT_OK_AND_ASSIGN(auto png, thumbs_->Png("file:" + root_ + "/a.png", 8));
  ASSERT_OK_AND_ASSIGN(image::Image small, image::Decode(*png));
  EXPECT_EQ(small.width, 8);  // the longer edge
  EXPECT_EQ(small.height, 4);
  ASSERT_OK(thumbs_->Png("file:" + root_ + "/a.png", 8).status());
  EXPECT_EQ(thumbs_->stats().hits, 1u);
  for (const std::string& bad : std::vector<std::string>{
           "file:" + root_ + "/../outside.png", "file:" + root_ + "/link.png", "file:/etc/passwd",
           "idx:test:0:" + root_ + "/../..", "file:/no/such/file.png"}) {
    EXPECT_THAT(thumbs_->Png(bad, 8), StatusIs(absl::StatusCode::kPermissionDenied, _)) << bad;
  }
  EXPECT_THAT(thumbs_->Png("file:" + root_ + "/missing.png", 8),
              StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(thumbs_->Png("file:" + root_ + "/text.png", 8),
              StatusIs(absl::StatusCode::kDataLoss, _));
  EXPECT_THAT(thumbs_->Png("file:relative.png", 8),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(thumbs_->Png("nonsense", 8), StatusIs(absl::StatusCode::kInvalidArgument, _));
  EXPECT_THAT(thumbs_->Png("file:" + root_ + "/a.png", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
  ThumbnailOptions missing;
  missing.image_roots = {dir_.Join("nope")};
  EXPECT_THAT(Thumbnailer::Create(missing), StatusIs(absl::StatusCode::kNotFound, _));
  ASSERT_OK_AND_ASSIGN(auto no_roots, Thumbnailer::Create(ThumbnailOptions{}));
  EXPECT_THAT(no_roots->Png("file:" + root_ + "/a.png", 8),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("--image_roots")));
}

}  // namespace
}  // namespace latentsearch::gateway
