// The router's gRPC adapters (RouterSearchService, ClusterService) through
// their stubs, served in-process by rpc::Server over a RouterCore whose
// nodes are FakeNodes: the public Search API end to end (create, an Upsert
// stream of several messages, Search, SearchBatch, ListItems,
// GetCollection, Delete, errors with their codes), Cluster.Status and a
// dry-run Rebalance, and a Search whose replicas all stall: the client's
// deadline ends it, and the reactor's cancellation ends the node calls.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/rpc/channel.h"
#include "common/rpc/server.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/cluster.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "services/search/cluster/router_cluster_service.h"
#include "services/search/cluster/router_search_service.h"
#include "tests/unit/search/cluster/router_test_cluster.h"

namespace latentsearch::search::cluster::testing {
namespace {

using ::testing::HasSubstr;

class RouterServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(cluster_, TestCluster::Start(2, std::make_shared<MemoryStore>()));
    ASSERT_OK_AND_ASSIGN(core_, cluster_->Router());
    search_ = std::make_unique<RouterSearchService>(core_.get());
    admin_ = std::make_unique<ClusterService>(core_.get());
    rpc::ServerOptions options;
    ASSERT_OK_AND_ASSIGN(server_, rpc::Server::Start(options, {search_.get(), admin_.get()}));
    auto channel = rpc::CreateChannel(server_->address());
    stub_ = v1::Search::NewStub(channel);
    cluster_stub_ = v1::Cluster::NewStub(channel);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  void CreateAndFill() {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest create;
    create.set_name("c");
    create.set_dim(2);
    create.set_shards(2);
    create.set_replication_factor(2);
    v1::CollectionInfo info;
    grpc::Status s = stub_->CreateCollection(&ctx, create, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(info.shards(), 2u);
    grpc::ClientContext uctx;
    v1::UpsertResponse response;
    auto writer = stub_->Upsert(&uctx, &response);
    for (int m = 0; m < 3; ++m) {
      v1::UpsertRequest u;
      if (m == 0) u.set_collection("c");
      for (int i = 0; i < 4; ++i) {
        const int n = m * 4 + i;
        v1::Item* item = u.add_items();
        item->set_id(absl::StrCat("id", 10 + n));
        item->add_vector(n);
        item->add_vector(n);
      }
      ASSERT_TRUE(writer->Write(u));
    }
    writer->WritesDone();
    s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.upserted(), 12u);
    EXPECT_EQ(response.inserted(), 12u);
    EXPECT_EQ(response.item_count(), 12u);
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<RouterCore> core_;
  std::unique_ptr<RouterSearchService> search_;
  std::unique_ptr<ClusterService> admin_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<v1::Search::Stub> stub_;
  std::unique_ptr<v1::Cluster::Stub> cluster_stub_;
};

TEST_F(RouterServiceTest, ThePublicApiWorksThroughTheRouter) {
  CreateAndFill();
  grpc::ClientContext sctx;
  v1::SearchRequest q;
  q.set_collection("c");
  q.mutable_vector()->add_values(3.1f);
  q.mutable_vector()->add_values(3.1f);
  q.set_k(3);
  v1::SearchResponse found;
  ASSERT_TRUE(stub_->Search(&sctx, q, &found).ok());
  ASSERT_EQ(found.neighbors_size(), 3);
  EXPECT_EQ(found.neighbors(0).id(), "id13");
  grpc::ClientContext bctx;
  v1::SearchBatchRequest batch;
  batch.set_collection("c");
  v1::SearchRequest* item_query = batch.add_queries();
  item_query->set_item_id("id20");
  item_query->set_k(2);
  item_query->set_exclude_self(true);
  v1::SearchBatchResponse answers;
  ASSERT_TRUE(stub_->SearchBatch(&bctx, batch, &answers).ok());
  ASSERT_EQ(answers.results(0).neighbors_size(), 2);
  EXPECT_EQ(answers.results(0).neighbors(0).id(), "id19");
  grpc::ClientContext lctx;
  v1::ListItemsRequest list;
  list.set_collection("c");
  list.set_page_size(5);
  v1::ListItemsResponse page;
  ASSERT_TRUE(stub_->ListItems(&lctx, list, &page).ok());
  ASSERT_EQ(page.items_size(), 5);
  EXPECT_EQ(page.items(0).id(), "id10");
  EXPECT_EQ(page.next_page_token(), "id14");
  grpc::ClientContext dctx;
  v1::DeleteRequest del;
  del.set_collection("c");
  del.add_ids("id10");
  v1::DeleteResponse deleted;
  ASSERT_TRUE(stub_->Delete(&dctx, del, &deleted).ok());
  EXPECT_EQ(deleted.deleted(), 1u);
  grpc::ClientContext gctx;
  v1::GetCollectionRequest get;
  get.set_name("c");
  v1::CollectionInfo info;
  ASSERT_TRUE(stub_->GetCollection(&gctx, get, &info).ok());
  EXPECT_EQ(info.item_count(), 11u);
  grpc::ClientContext nctx;
  get.set_name("nope");
  grpc::Status s = stub_->GetCollection(&nctx, get, &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("'nope'"));
}

TEST_F(RouterServiceTest, ClusterStatusAndRebalanceDryRun) {
  CreateAndFill();
  grpc::ClientContext ctx;
  v1::ClusterStatusResponse status;
  ASSERT_TRUE(cluster_stub_->Status(&ctx, {}, &status).ok());
  ASSERT_EQ(status.nodes_size(), 2);
  EXPECT_TRUE(status.nodes(0).up());
  ASSERT_EQ(status.collections_size(), 1);
  EXPECT_EQ(status.collections(0).shard_status_size(), 2);
  grpc::ClientContext rctx;
  v1::RebalanceRequest rebalance;
  rebalance.set_dry_run(true);
  v1::RebalanceResponse moves;
  ASSERT_TRUE(cluster_stub_->Rebalance(&rctx, rebalance, &moves).ok());
  EXPECT_EQ(moves.moves_size(), 0);  // Already even.
}

TEST_F(RouterServiceTest, ASearchWhoseReplicasStallEndsAtTheClientsDeadline) {
  CreateAndFill();
  for (size_t i = 0; i < cluster_->size(); ++i) cluster_->node(i).SetReads(FakeNode::Mode::kHold);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  v1::SearchRequest q;
  q.set_collection("c");
  q.mutable_vector()->add_values(1);
  q.mutable_vector()->add_values(1);
  v1::SearchResponse found;
  grpc::Status s = stub_->Search(&ctx, q, &found);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  // The server's reactor finished (cancelled its node calls): shutting down
  // does not wait for the stalled nodes.
  server_->Shutdown(absl::Seconds(30));
}

}  // namespace
}  // namespace latentsearch::search::cluster::testing
