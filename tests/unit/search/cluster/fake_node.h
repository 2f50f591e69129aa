// FakeNode: an in-process stand-in for a search cluster node
// (latentsearch.v1.SearchNode), served on 127.0.0.1:0, for the router's
// tests. It keeps its shard replicas in memory: per id the item with the
// greatest version, deletes as versioned tombstones (last writer wins;
// equal versions: a delete wins), and answers exact searches by brute force
// with the index's own distance kernels (common/index/metric.h), so a
// router's merged answer can be compared with a standalone SearchCore's.
//
// Replicas come from the placement: when a placement source is set, every
// GetNodeStatus first applies it (creates the replicas the placements give
// this node, SERVING unless Options::new_replicas_catch_up, and drops the
// others), as a real node's reconcile loop would.
//
// Switches for failures, per kind of RPC: reads (SearchShard, GetItems,
// ScanShard) and writes (Write) can each be served, refused (UNAVAILABLE)
// or held unanswered until the caller cancels (or Release()); SetDown makes
// every RPC UNAVAILABLE. It records the calls it got and the Resyncs.
//
// Thread-safety: thread-safe; RPCs arrive on gRPC threads while the test
// switches modes and reads the records.
#ifndef LATENTSEARCH_TESTS_UNIT_SEARCH_CLUSTER_FAKE_NODE_H_
#define LATENTSEARCH_TESTS_UNIT_SEARCH_CLUSTER_FAKE_NODE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/server.h"
#include "latentsearch/v1/cluster.grpc.pb.h"

namespace latentsearch::search::cluster::testing {

class FakeNode final : public v1::SearchNode::CallbackService {
 public:
  // Every collection's placement (the test's store).
  using PlacementSource = std::function<absl::StatusOr<std::vector<v1::CollectionPlacement>>()>;

  enum class Mode { kServe, kRefuse, kHold };

  struct Options {
    // Applied on every GetNodeStatus; empty = replicas only via AddReplica.
    PlacementSource placements;
    // New replicas start CATCHING_UP (until FinishCatchUp) instead of
    // SERVING.
    bool new_replicas_catch_up = false;
  };

  // One stored id.
  struct Entry {
    v1::Item item;
    uint64_t version = 0;
    bool deleted = false;
  };

  static absl::StatusOr<std::unique_ptr<FakeNode>> Start(Options options);
  ~FakeNode() override;

  const std::string& address() const { return server_->address(); }

  void SetReads(Mode mode);
  void SetWrites(Mode mode);
  // Every RPC (GetNodeStatus and Resync too) answers UNAVAILABLE.
  void SetDown(bool down);
  // Answers every held call UNAVAILABLE.
  void Release();

  // Holds (collection, shard) from now on (dim from the spec).
  void AddReplica(const std::string& collection, uint32_t shard, uint32_t dim);
  // The replica serves again.
  void FinishCatchUp(const std::string& collection, uint32_t shard);
  bool Holds(const std::string& collection, uint32_t shard) const;
  v1::ReplicaState StateOf(const std::string& collection, uint32_t shard) const;
  // The replica's entries (items and tombstones) by id.
  std::map<std::string, Entry> Entries(const std::string& collection, uint32_t shard) const;

  // Calls received, by RPC name ("Write", "SearchShard", ...).
  int Calls(const std::string& rpc) const;
  int Resyncs(const std::string& collection, uint32_t shard) const;
  // Blocks until `n` Resyncs of the replica arrived (no timeout).
  void AwaitResyncs(const std::string& collection, uint32_t shard, int n) const;
  // Blocks until `n` calls are held (in all).
  void AwaitHeld(int n) const;

  // The RPCs.
  grpc::ServerUnaryReactor* GetNodeStatus(grpc::CallbackServerContext* ctx,
                                          const v1::GetNodeStatusRequest* request,
                                          v1::GetNodeStatusResponse* response) override;
  grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* ctx,
                                  const v1::ShardWriteRequest* request,
                                  v1::ShardWriteResponse* response) override;
  grpc::ServerUnaryReactor* SearchShard(grpc::CallbackServerContext* ctx,
                                        const v1::ShardSearchRequest* request,
                                        v1::SearchBatchResponse* response) override;
  grpc::ServerUnaryReactor* GetItems(grpc::CallbackServerContext* ctx,
                                     const v1::GetItemsRequest* request,
                                     v1::GetItemsResponse* response) override;
  grpc::ServerUnaryReactor* ScanShard(grpc::CallbackServerContext* ctx,
                                      const v1::ScanShardRequest* request,
                                      v1::ScanShardResponse* response) override;
  grpc::ServerUnaryReactor* Resync(grpc::CallbackServerContext* ctx,
                                   const v1::ResyncRequest* request,
                                   v1::ResyncResponse* response) override;
  grpc::ServerUnaryReactor* SnapshotShards(grpc::CallbackServerContext* ctx,
                                           const v1::SnapshotRequest* request,
                                           v1::SnapshotResponse* response) override;

 private:
  struct Replica {
    uint32_t dim = 0;
    int64_t created_at_us = 0;
    v1::ReplicaState state = v1::REPLICA_STATE_SERVING;
    std::map<std::string, Entry> entries;
  };
  using Key = std::pair<std::string, uint32_t>;
  class HeldReactor;

  explicit FakeNode(Options options);
  enum class Kind { kStatus, kRead, kWrite };
  // Counts the call; nullptr when it is to be served, else the reactor that
  // answers it (refused now, or held).
  grpc::ServerUnaryReactor* Gate(grpc::CallbackServerContext* ctx, const std::string& rpc,
                                 Kind kind);
  void Reconcile();
  absl::StatusOr<v1::ShardWriteResponse> ApplyWrite(const v1::ShardWriteRequest& request);
  absl::StatusOr<v1::SearchBatchResponse> Search(const v1::ShardSearchRequest& request) const;
  absl::Status Readable(const v1::ShardRef& ref, bool allow_catching_up) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  std::unique_ptr<rpc::Server> server_;
  mutable absl::Mutex mu_;
  Mode reads_ ABSL_GUARDED_BY(mu_) = Mode::kServe;
  Mode writes_ ABSL_GUARDED_BY(mu_) = Mode::kServe;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<Key, Replica> replicas_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<Key, int> resyncs_ ABSL_GUARDED_BY(mu_);
  // Held calls' reactors, kept until the node is destroyed.
  std::vector<std::unique_ptr<HeldReactor>> held_ ABSL_GUARDED_BY(mu_);
  int holding_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace latentsearch::search::cluster::testing

#endif  // LATENTSEARCH_TESTS_UNIT_SEARCH_CLUSTER_FAKE_NODE_H_
