// The Search service through its gRPC stub, served in-process by
// rpc::Server (common/rpc/server.h; not the binaries' ServiceMain) on a
// loopback port, with the shared fake gRPC encoder
// (common/testing/fake_encoder_service.h) for image queries, reached
// through the real GrpcEncoderClient.
#include "services/search/search_service.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "common/rpc/server.h"
#include "common/testing/fake_encoder_service.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "services/search/grpc_encoder_client.h"

namespace latentsearch::search {
namespace {

using ::latentsearch::testing::FakeEncoderService;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

class SearchServiceTest : public ::testing::Test {
 protected:
  void StartSearch(const std::string& encoder_address) {
    SearchCoreOptions options;
    options.collections.data_dir = tmp_.path();
    options.collections.num_threads = 1;
    options.collections.collection.rebuild_min_changes = 100;  // Rebuild often.
    if (!encoder_address.empty()) {
      ASSERT_OK_AND_ASSIGN(options.encoder, GrpcEncoderClient::Create(encoder_address));
    }
    ASSERT_OK_AND_ASSIGN(core_, SearchCore::Create(options));
    service_ = std::make_unique<SearchService>(core_.get());
    rpc::ServerOptions so;
    so.health_names = {"latentsearch.v1.Search"};
    ASSERT_OK_AND_ASSIGN(server_, rpc::Server::Start(so, {service_.get()}));
    stub_ = v1::Search::NewStub(rpc::CreateChannel(server_->address()));
  }

  void CreateAndFill() {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest req;
    req.set_name("c");
    req.set_dim(2);
    req.mutable_model()->set_name("default");
    req.mutable_model()->set_version(7);
    v1::CollectionInfo info;
    ASSERT_TRUE(stub_->CreateCollection(&ctx, req, &info).ok());
    EXPECT_EQ(info.metrics_size(), 3);
    grpc::ClientContext uctx;
    v1::UpsertResponse resp;
    auto writer = stub_->Upsert(&uctx, &resp);
    for (int batch = 0; batch < 3; ++batch) {
      v1::UpsertRequest u;
      if (batch == 0) u.set_collection("c");
      for (int i = 0; i < 4; ++i) {
        int n = batch * 4 + i;
        v1::Item* item = u.add_items();
        item->set_id("id" + std::to_string(n));
        item->add_vector(static_cast<float>(n));
        item->add_vector(static_cast<float>(n));
        item->set_label(n % 3);
        item->set_uri("file" + std::to_string(n) + ".png");
      }
      ASSERT_TRUE(writer->Write(u));
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.upserted(), 12u);
    EXPECT_EQ(resp.inserted(), 12u);
    EXPECT_EQ(resp.item_count(), 12u);
  }

  // The fake encoder for collection "c": model "default" v7, dim 2.
  static FakeEncoderService::Options EncoderOptions(bool hold_encode = false) {
    FakeEncoderService::Options options;
    options.model_name = "default";
    options.version = 7;
    options.dim = 2;
    options.hold_encode = hold_encode;
    return options;
  }

  // An image query on "c": a 1x1 image of `pixel` (the fake encodes it as
  // (pixel, pixel)).
  static v1::SearchRequest ImageQuery(char pixel) {
    v1::SearchRequest req;
    req.set_collection("c");
    req.set_k(1);
    v1::RawImage* raw = req.mutable_image()->mutable_raw();
    raw->set_height(1);
    raw->set_width(1);
    raw->set_channels(1);
    raw->set_pixels(std::string(1, pixel));
    return req;
  }

  grpc::Status DoSearch(const v1::SearchRequest& req, v1::SearchResponse* resp) {
    grpc::ClientContext ctx;
    return stub_->Search(&ctx, req, resp);
  }

  TempDir tmp_;
  std::unique_ptr<SearchCore> core_;
  std::unique_ptr<SearchService> service_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<v1::Search::Stub> stub_;
};

TEST_F(SearchServiceTest, CreateUpsertSearchByVectorAndItem) {
  StartSearch("");
  CreateAndFill();
  EXPECT_THAT(
      rpc::CheckHealth(rpc::CreateChannel(server_->address()), "latentsearch.v1.Search"),
      ::latentsearch::testing::IsOkAndHolds(grpc::health::v1::HealthCheckResponse::SERVING));
  v1::SearchRequest req;
  req.set_collection("c");
  req.mutable_vector()->add_values(5.1f);
  req.mutable_vector()->add_values(5.1f);
  req.set_k(3);
  req.set_metric(v1::METRIC_L1);
  v1::SearchResponse resp;
  ASSERT_TRUE(DoSearch(req, &resp).ok());
  ASSERT_EQ(resp.neighbors_size(), 3);
  EXPECT_EQ(resp.neighbors(0).id(), "id5");
  EXPECT_NEAR(resp.neighbors(0).distance(), 0.2f, 1e-5);
  EXPECT_EQ(resp.neighbors(0).uri(), "file5.png");
  EXPECT_EQ(resp.neighbors(0).label(), 2);
  EXPECT_EQ(resp.metric(), v1::METRIC_L1);
  EXPECT_EQ(resp.index_kind(), v1::INDEX_KIND_EXACT);
  EXPECT_EQ(resp.model().version(), 7u);

  v1::SearchRequest by_item;
  by_item.set_collection("c");
  by_item.set_item_id("id0");
  by_item.set_exclude_self(true);
  by_item.set_k(2);
  by_item.add_labels(1);
  resp.Clear();
  ASSERT_TRUE(DoSearch(by_item, &resp).ok());
  ASSERT_EQ(resp.neighbors_size(), 2);
  EXPECT_EQ(resp.neighbors(0).id(), "id1");
  EXPECT_EQ(resp.neighbors(1).id(), "id4");

  // HNSW before a graph exists answers exactly and says so.
  by_item.set_index_kind(v1::INDEX_KIND_HNSW);
  resp.Clear();
  ASSERT_TRUE(DoSearch(by_item, &resp).ok());
  EXPECT_EQ(resp.neighbors_size(), 2);
}

TEST_F(SearchServiceTest, BadRequestsGetPreciseCodes) {
  StartSearch("");
  CreateAndFill();
  v1::SearchRequest req;
  v1::SearchResponse resp;
  req.set_collection("c");
  EXPECT_EQ(DoSearch(req, &resp).error_code(), grpc::INVALID_ARGUMENT);  // no query
  req.mutable_vector()->add_values(1);
  grpc::Status s = DoSearch(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("dim 2"));
  req.mutable_vector()->add_values(1);
  req.set_metric(static_cast<v1::Metric>(9));
  s = DoSearch(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("unknown metric value 9"));
  req.set_metric(v1::METRIC_L2);
  req.set_k(5000);
  EXPECT_EQ(DoSearch(req, &resp).error_code(), grpc::INVALID_ARGUMENT);
  req.set_k(1);
  req.set_collection("nope");
  EXPECT_EQ(DoSearch(req, &resp).error_code(), grpc::NOT_FOUND);

  // An upsert stream with a wrong-dimension item fails naming it.
  grpc::ClientContext uctx;
  v1::UpsertResponse uresp;
  auto writer = stub_->Upsert(&uctx, &uresp);
  v1::UpsertRequest u;
  u.set_collection("c");
  v1::Item* item = u.add_items();
  item->set_id("bad");
  item->add_vector(1);
  writer->Write(u);
  writer->WritesDone();
  s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("'bad'"));

  grpc::ClientContext cctx;
  v1::CreateCollectionRequest create;
  create.set_name("c");
  create.set_dim(2);
  v1::CollectionInfo info;
  EXPECT_EQ(stub_->CreateCollection(&cctx, create, &info).error_code(), grpc::ALREADY_EXISTS);
}

TEST_F(SearchServiceTest, ImageQueryWithoutEncoderIsUnavailableWithAHint) {
  StartSearch("");
  CreateAndFill();
  v1::SearchRequest req;
  req.set_collection("c");
  req.mutable_image()->set_encoded("\x89PNG");
  v1::SearchResponse resp;
  grpc::Status s = DoSearch(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("--encoder"));
}

TEST_F(SearchServiceTest, ImageQueryIsEncodedWithThePinnedModelVersion) {
  // Encodes an image as its first pixel value, twice; serves version 7.
  ASSERT_OK_AND_ASSIGN(auto encoder, FakeEncoderService::Start(EncoderOptions()));
  StartSearch(encoder->address());
  CreateAndFill();
  const v1::SearchRequest req = ImageQuery('\x09');
  v1::SearchResponse resp;
  grpc::Status s = DoSearch(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(encoder->last_requested_version(), 7u);
  ASSERT_EQ(resp.neighbors_size(), 1);
  EXPECT_EQ(resp.neighbors(0).id(), "id9");

  // The encoder dropped version 7: FAILED_PRECONDITION naming the model.
  encoder->set_version(8);
  s = DoSearch(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("v7"));

  // The encoder is down: UNAVAILABLE naming its address.
  std::string address = encoder->address();
  encoder->Shutdown();
  s = DoSearch(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr(address));
}

// The client cancels an image query while the encoder holds it: the search
// server cancels its encoder call (the encoder sees it cancelled) and has
// nothing left in flight, so its Shutdown returns.
TEST_F(SearchServiceTest, ClientCancelCancelsTheEncoderCall) {
  ASSERT_OK_AND_ASSIGN(auto encoder, FakeEncoderService::Start(EncoderOptions(true)));
  // On a failure below, let held calls go so the test ends instead of hanging.
  absl::Cleanup release = [&] { encoder->ReleaseEncodes(); };
  StartSearch(encoder->address());
  CreateAndFill();
  const v1::SearchRequest req = ImageQuery('\x09');
  v1::SearchResponse resp;
  grpc::ClientContext ctx;
  grpc::Status status;
  absl::Notification answered;
  stub_->async()->Search(&ctx, &req, &resp, [&](grpc::Status s) {
    status = std::move(s);
    answered.Notify();
  });
  ASSERT_TRUE(encoder->WaitForHeldEncodes(1, absl::Seconds(60)));
  ctx.TryCancel();
  answered.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::CANCELLED);
  ASSERT_TRUE(encoder->WaitForCancelledEncodes(1, absl::Seconds(60)));
  server_->Shutdown(absl::Seconds(60));
  EXPECT_EQ(encoder->encode_calls(), 1);
}

// SIGTERM while an image query waits for a stuck encoder and its client set
// no deadline: once the drain runs out, the server cancels the call, the
// call cancels its encoder call, and Shutdown returns without the encoder
// ever answering.
TEST_F(SearchServiceTest, ShutdownDoesNotWaitForAStuckEncoder) {
  ASSERT_OK_AND_ASSIGN(auto encoder, FakeEncoderService::Start(EncoderOptions(true)));
  StartSearch(encoder->address());
  CreateAndFill();
  const v1::SearchRequest req = ImageQuery('\x09');
  v1::SearchResponse resp;
  grpc::ClientContext ctx;
  grpc::Status status;
  absl::Notification answered;
  stub_->async()->Search(&ctx, &req, &resp, [&](grpc::Status s) {
    status = std::move(s);
    answered.Notify();
  });
  ASSERT_TRUE(encoder->WaitForHeldEncodes(1, absl::Seconds(60)));
  absl::Notification shut_down;
  std::thread stopper([&] {
    server_->Shutdown(absl::ZeroDuration());
    shut_down.Notify();
  });
  // Not a pacing wait: a generous bound, after which the encoder is let go
  // so that a hanging Shutdown fails the test instead of hanging it.
  const bool returned = shut_down.WaitForNotificationWithTimeout(absl::Seconds(60));
  if (!returned) encoder->ReleaseEncodes();
  stopper.join();
  EXPECT_TRUE(returned) << "Shutdown waited for the encoder";
  EXPECT_TRUE(encoder->WaitForCancelledEncodes(1, absl::Seconds(60)));
  answered.WaitForNotification();
  EXPECT_FALSE(status.ok());
}

TEST_F(SearchServiceTest, SnapshotDeleteAndStats) {
  StartSearch("");
  CreateAndFill();
  grpc::ClientContext dctx;
  v1::DeleteRequest del;
  del.set_collection("c");
  del.add_ids("id1");
  del.add_ids("ghost");
  v1::DeleteResponse dresp;
  ASSERT_TRUE(stub_->Delete(&dctx, del, &dresp).ok());
  EXPECT_EQ(dresp.deleted(), 1u);
  EXPECT_EQ(dresp.not_found(), 1u);
  grpc::ClientContext sctx;
  v1::SnapshotRequest snap;
  v1::SnapshotResponse sresp;
  ASSERT_TRUE(stub_->Snapshot(&sctx, snap, &sresp).ok());
  ASSERT_EQ(sresp.snapshots_size(), 1);
  EXPECT_EQ(sresp.snapshots(0).collection(), "c");
  EXPECT_EQ(sresp.snapshots(0).items(), 11u);
  grpc::ClientContext gctx;
  v1::GetCollectionRequest get;
  get.set_name("c");
  v1::CollectionInfo info;
  ASSERT_TRUE(stub_->GetCollection(&gctx, get, &info).ok());
  EXPECT_EQ(info.item_count(), 11u);
  EXPECT_EQ(info.indexes_size(), 6);  // exact + HNSW per metric
  EXPECT_GT(info.disk_bytes(), 0u);
}

// Searches over gRPC while another client upserts and deletes and HNSW
// graphs are rebuilt in the background: no RPC fails, every answer is full.
TEST_F(SearchServiceTest, ConcurrentSearchesDuringUpsertsAndRebuildsNeverFail) {
  StartSearch("");
  CreateAndFill();
  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, short_answers{0}, searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      auto stub = v1::Search::NewStub(rpc::CreateChannel(server_->address()));
      for (int i = 0; !done.load(); ++i) {
        grpc::ClientContext ctx;
        v1::SearchRequest req;
        req.set_collection("c");
        req.mutable_vector()->add_values(static_cast<float>(i % 50));
        req.mutable_vector()->add_values(1.0f);
        req.set_k(5);
        req.set_metric(static_cast<v1::Metric>(1 + (i + t) % 3));
        req.set_index_kind((i % 2) ? v1::INDEX_KIND_HNSW : v1::INDEX_KIND_EXACT);
        v1::SearchResponse resp;
        grpc::Status s = stub->Search(&ctx, req, &resp);
        if (!s.ok())
          failures.fetch_add(1);
        else if (resp.neighbors_size() != 5)
          short_answers.fetch_add(1);
        searches.fetch_add(1);
      }
    });
  }
  for (int round = 0; round < 30; ++round) {
    grpc::ClientContext uctx;
    v1::UpsertResponse resp;
    auto writer = stub_->Upsert(&uctx, &resp);
    v1::UpsertRequest u;
    u.set_collection("c");
    for (int i = 0; i < 100; ++i) {
      v1::Item* item = u.add_items();
      item->set_id("r" + std::to_string(round) + "-" + std::to_string(i));
      item->add_vector(static_cast<float>(i));
      item->add_vector(static_cast<float>(round));
    }
    writer->Write(u);
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    grpc::ClientContext dctx;
    v1::DeleteRequest del;
    del.set_collection("c");
    del.add_ids("r" + std::to_string(round) + "-0");
    v1::DeleteResponse dresp;
    ASSERT_TRUE(stub_->Delete(&dctx, del, &dresp).ok());
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(short_answers.load(), 0);
  EXPECT_GT(searches.load(), 0);
}

}  // namespace
}  // namespace latentsearch::search
