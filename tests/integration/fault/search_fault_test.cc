// Faults against the real latentsearch-search binary: SIGKILL while a
// snapshot is being written (with upserts running), an oversized request,
// and clients that stall or give up (deadlines). Loopback, port 0.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/integration/fault/fault_util.h"

namespace latentsearch::fault {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;

constexpr int kDim = 64;
const int kRounds = getenv("LS_FAULT_ROUNDS") ? atoi(getenv("LS_FAULT_ROUNDS")) : 4;

std::unique_ptr<Subprocess> StartSearch(const TempDir& tmp, const std::string& log) {
  auto p = Subprocess::StartServer({BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
                                    "--data_dir=" + tmp.Join("data"), "--threads=1"},
                                   tmp.Join(log));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

void Create(v1::Search::Stub* stub, const std::string& name) {
  grpc::ClientContext ctx;
  v1::CreateCollectionRequest req;
  req.set_name(name);
  req.set_dim(kDim);
  req.add_index_kinds(v1::INDEX_KIND_EXACT);
  v1::CollectionInfo info;
  grpc::Status s = stub->CreateCollection(&ctx, req, &info);
  ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
}

float Value(int item, int d) { return static_cast<float>((item * 31 + d * 7) % 1000) * 0.01f; }

// One Upsert stream of items [first, first + n); true when acknowledged.
bool Upsert(v1::Search::Stub* stub, const std::string& collection, const std::string& prefix,
            int first, int n) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(120));
  v1::UpsertResponse resp;
  auto stream = stub->Upsert(&ctx, &resp);
  v1::UpsertRequest req;
  req.set_collection(collection);
  for (int i = first; i < first + n; ++i) {
    v1::Item* item = req.add_items();
    item->set_id(absl::StrCat(prefix, i));
    item->set_label(i % 10);
    for (int d = 0; d < kDim; ++d) item->add_vector(Value(i, d));
  }
  stream->Write(req);
  stream->WritesDone();
  return stream->Finish().ok();
}

// The item is found by its own id at distance 0 (its vector is intact).
bool Findable(v1::Search::Stub* stub, const std::string& collection, const std::string& id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(60));
  v1::SearchRequest req;
  req.set_collection(collection);
  req.set_item_id(id);
  req.set_k(1);
  v1::SearchResponse resp;
  grpc::Status s = stub->Search(&ctx, req, &resp);
  return s.ok() && resp.neighbors_size() == 1 && resp.neighbors(0).distance() == 0.0f;
}

TEST(SearchFaultTest, SigkillDuringSnapshotKeepsEveryAcknowledgedItem) {
  TempDir tmp;
  std::unique_ptr<Subprocess> server = StartSearch(tmp, "first.log");
  ASSERT_NE(server, nullptr);
  auto stub = v1::Search::NewStub(rpc::CreateChannel(server->address()));
  Create(stub.get(), "snap");
  if (HasFatalFailure()) return;
  // ~100k × 64 floats: a 26 MB snapshot takes a while to write.
  constexpr int kBulk = 100000, kPerCall = 10000;
  for (int first = 0; first < kBulk; first += kPerCall) {
    ASSERT_TRUE(Upsert(stub.get(), "snap", "b", first, kPerCall));
  }
  const std::string dir = tmp.Join("data/collections/snap");
  FileWatch watch(dir, ".tmp.");

  // Upserts keep coming while the snapshot is written.
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int call = 0; !stop.load(); ++call) {
      if (!Upsert(stub.get(), "snap", absl::StrCat("w", call, "-"), 0, 5)) break;
      std::lock_guard<std::mutex> l(mu);
      for (int i = 0; i < 5; ++i) acknowledged.push_back(absl::StrCat("w", call, "-", i));
    }
  });
  std::thread snapshotter([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(120));
    v1::SnapshotRequest req;
    req.set_collection("snap");
    v1::SnapshotResponse resp;
    grpc::Status s = stub->Snapshot(&ctx, req, &resp);
    // Killed before it finished: not acknowledged.
    EXPECT_FALSE(s.ok()) << "the snapshot finished before the kill";
  });
  std::string tmp_name;
  ASSERT_TRUE(watch.Wait(absl::Seconds(120), &tmp_name)) << "no snapshot temp file appeared";
  const int status = server->Stop(SIGKILL);
  stop = true;
  writer.join();
  snapshotter.join();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // The kill landed inside the write: the temp file is still there.
  EXPECT_FALSE(FilesContaining(dir, ".tmp.").empty()) << tmp_name;
  std::printf("killed while writing %s; %zu items acknowledged during the snapshot\n",
              tmp_name.c_str(), acknowledged.size());

  server = StartSearch(tmp, "second.log");
  ASSERT_NE(server, nullptr);
  stub = v1::Search::NewStub(rpc::CreateChannel(server->address()));
  grpc::ClientContext ctx;
  v1::GetCollectionRequest get;
  get.set_name("snap");
  v1::CollectionInfo info;
  grpc::Status s = stub->GetCollection(&ctx, get, &info);
  ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  EXPECT_GE(info.item_count(), static_cast<uint64_t>(kBulk) + acknowledged.size());
  int missing = 0;
  for (const std::string& id : acknowledged) missing += !Findable(stub.get(), "snap", id);
  for (int i = 0; i < kBulk; i += 997)
    missing += !Findable(stub.get(), "snap", absl::StrCat("b", i));
  EXPECT_EQ(missing, 0);
  // The restarted service snapshots cleanly and exits cleanly.
  grpc::ClientContext sctx;
  v1::SnapshotRequest sreq;
  sreq.set_collection("snap");
  v1::SnapshotResponse sresp;
  s = stub->Snapshot(&sctx, sreq, &sresp);
  EXPECT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  EXPECT_EQ(server->Stop(SIGTERM), 0);
}

TEST(SearchFaultTest, OversizedRequestIsResourceExhaustedAndServiceGoesOn) {
  TempDir tmp;
  std::unique_ptr<Subprocess> server = StartSearch(tmp, "search.log");
  ASSERT_NE(server, nullptr);
  rpc::ChannelOptions big;
  big.max_send_message_bytes = 64 << 20;  // Let the server be the one to refuse.
  auto stub = v1::Search::NewStub(rpc::CreateChannel(server->address(), big));
  Create(stub.get(), "c");
  if (HasFatalFailure()) return;
  ASSERT_TRUE(Upsert(stub.get(), "c", "i", 0, 10));
  {
    grpc::ClientContext ctx;
    v1::SearchRequest req;
    req.set_collection("c");
    req.mutable_vector()->mutable_values()->Resize(5 << 20 >> 2, 0.5f);  // 5 MiB > 4 MiB.
    v1::SearchResponse resp;
    grpc::Status s = stub->Search(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED) << rpc::FormatGrpcStatus(s);
  }
  EXPECT_TRUE(Findable(stub.get(), "c", "i3"));
  EXPECT_EQ(server->Stop(SIGTERM), 0);
}

TEST(SearchFaultTest, StalledAndExpiredClientsLeaveNoThreadsOrFilesBehind) {
  TempDir tmp;
  std::unique_ptr<Subprocess> server = StartSearch(tmp, "search.log");
  ASSERT_NE(server, nullptr);
  auto channel = rpc::CreateChannel(server->address());
  auto stub = v1::Search::NewStub(channel);
  Create(stub.get(), "c");
  if (HasFatalFailure()) return;
  ASSERT_TRUE(Upsert(stub.get(), "c", "i", 0, 100));
  ASSERT_TRUE(Findable(stub.get(), "c", "i1"));
  const int fds = CountFds(server->pid());
  ASSERT_GT(fds, 0);
  // Files must come back to the count before any round; threads outside
  // gRPC's self-sizing pools (CountOwnThreads) to the peak of the two
  // warm-up rounds. A leak adds some with every round.
  int threads = -1;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> clients;
    for (int c = 0; c < 8; ++c) {
      clients.emplace_back([&, c] {
        // Each on its own connection: an Upsert stream that sends one
        // message and then stalls until its deadline.
        auto own = v1::Search::NewStub(rpc::CreateChannel(server->address()));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
        v1::UpsertResponse resp;
        auto stream = own->Upsert(&ctx, &resp);
        v1::UpsertRequest req;
        req.set_collection("c");
        v1::Item* item = req.add_items();
        item->set_id(absl::StrCat("s", round, "-", c));
        for (int d = 0; d < kDim; ++d) item->add_vector(1.0f);
        stream->Write(req);
        grpc::Status s = stream->Finish();
        EXPECT_EQ(s.error_code(), grpc::DEADLINE_EXCEEDED) << rpc::FormatGrpcStatus(s);
        // Unary calls whose deadline has passed before the server sees them.
        for (int i = 0; i < 20; ++i) {
          grpc::ClientContext uctx;
          uctx.set_deadline(std::chrono::system_clock::now() + std::chrono::microseconds(50));
          v1::SearchRequest sreq;
          sreq.set_collection("c");
          sreq.set_item_id("i5");
          v1::SearchResponse sresp;
          grpc::Status us = own->Search(&uctx, sreq, &sresp);
          EXPECT_TRUE(us.ok() || us.error_code() == grpc::DEADLINE_EXCEEDED)
              << rpc::FormatGrpcStatus(us);
        }
      });
    }
    for (std::thread& t : clients) t.join();
    std::printf("after round %d: %d threads (%s)\n", round, CountThreads(server->pid()),
                ThreadNames(server->pid()).c_str());
    if (round <= 1) threads = std::max(threads, CountOwnThreads(server->pid()));
  }
  // Still serving, and every connection's file and thread is gone again.
  EXPECT_TRUE(Findable(stub.get(), "c", "i7"));
  int now_fds = -1, now_threads = -1;
  EXPECT_TRUE(PollUntil(
      [&] {
        now_fds = CountFds(server->pid());
        now_threads = CountOwnThreads(server->pid());
        return now_fds <= fds && now_threads <= threads;
      },
      absl::Seconds(60)))
      << "fds " << fds << " -> " << now_fds << ", threads " << threads << " -> " << now_threads;
  std::printf("server fds %d -> %d, threads %d -> %d\n", fds, now_fds, threads, now_threads);
  EXPECT_EQ(server->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace latentsearch::fault
