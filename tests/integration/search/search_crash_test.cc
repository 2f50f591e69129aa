// Kill -9 the real latentsearch-search binary in the middle of a stream of
// upserts, restart it on the same data directory: every acknowledged item
// is there and the collection loads cleanly.
#include <signal.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/rpc/channel.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;

constexpr int kDim = 16;
constexpr int kItemsPerCall = 50;

std::unique_ptr<Subprocess> StartSearch(const TempDir& tmp, const std::string& log) {
  auto proc = Subprocess::StartServer({BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
                                       "--data_dir=" + tmp.Join("data"), "--threads=1"},
                                      tmp.Join(log));
  EXPECT_TRUE(proc.ok()) << proc.status();
  return proc.ok() ? std::move(*proc) : nullptr;
}

TEST(SearchCrashTest, AcknowledgedUpsertsSurviveSigkill) {
  TempDir tmp;
  std::unique_ptr<Subprocess> server = StartSearch(tmp, "first.log");
  ASSERT_NE(server, nullptr);
  auto stub = v1::Search::NewStub(rpc::CreateChannel(server->address()));
  {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest req;
    req.set_name("crash");
    req.set_dim(kDim);
    v1::CollectionInfo info;
    ASSERT_TRUE(stub->CreateCollection(&ctx, req, &info).ok());
  }

  std::set<std::string> acknowledged;
  absl::Notification enough;
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (int call = 0; !failed.load(); ++call) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      v1::UpsertResponse resp;
      auto stream = stub->Upsert(&ctx, &resp);
      v1::UpsertRequest req;
      req.set_collection("crash");
      std::vector<std::string> ids;
      for (int i = 0; i < kItemsPerCall; ++i) {
        v1::Item* item = req.add_items();
        item->set_id("c" + std::to_string(call) + "-" + std::to_string(i));
        for (int d = 0; d < kDim; ++d) item->add_vector(call + i * 0.01f + d);
        ids.push_back(item->id());
      }
      stream->Write(req);
      stream->WritesDone();
      if (!stream->Finish().ok()) {
        failed = true;
        break;
      }
      acknowledged.insert(ids.begin(), ids.end());
      if (call == 20) enough.Notify();
    }
    if (!enough.HasBeenNotified()) enough.Notify();
  });
  enough.WaitForNotification();
  int status = server->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  writer.join();
  ASSERT_GE(acknowledged.size(), 21u * kItemsPerCall);

  server = StartSearch(tmp, "second.log");
  ASSERT_NE(server, nullptr);
  stub = v1::Search::NewStub(rpc::CreateChannel(server->address()));
  grpc::ClientContext ctx;
  v1::GetCollectionRequest get;
  get.set_name("crash");
  v1::CollectionInfo info;
  grpc::Status s = stub->GetCollection(&ctx, get, &info);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GE(info.item_count(), acknowledged.size());
  // Every acknowledged item is findable by id, with its vector intact.
  int missing = 0;
  for (const std::string& id : acknowledged) {
    grpc::ClientContext sctx;
    v1::SearchRequest req;
    req.set_collection("crash");
    req.set_item_id(id);
    req.set_k(1);
    v1::SearchResponse resp;
    grpc::Status st = stub->Search(&sctx, req, &resp);
    if (!st.ok() || resp.neighbors_size() != 1 || resp.neighbors(0).distance() != 0.0f) {
      ++missing;
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(server->Stop(SIGTERM), 0);  // Graceful exit status 0.
}

}  // namespace
}  // namespace latentsearch
