#!/usr/bin/python3
"""Helpers of tests/containers/cluster_stack_test.sh, run on the host.

  populate: creates a collection of SHARDS x REPLICATION_FACTOR through a
    router (the CLI's `bench --populate` makes 1 x 1 only: the shard count and
    replication factor are fields of CreateCollectionRequest it does not set),
    upserts ITEMS seeded vectors and waits until the router counts them all.
    Needs python3-grpcio, protoc and grpc_python_plugin (deploy/install-deps.sh):
    the stubs are generated from protos/ into a temporary directory.

      cluster_client.py populate --address=127.0.0.1:15053 --collection=c \\
          --dim=32 --items=3000 --shards=3 --replication_factor=2

  check-status: reads `latentsearch cluster status --json` on stdin and checks
    the cluster's state; exits 1 (saying why) when it does not hold:
      --expect=all-serving  every node up, every replica of COLLECTION serving;
      --expect=down:NODE    NODE down, its replicas of COLLECTION not serving,
                            and every shard of COLLECTION with a serving
                            replica on another node.

Single-threaded; not a library.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = os.path.join(HERE, "..", "..", "protos")


def generate_stubs(out_dir):
    files = ["latentsearch/v1/common.proto", "latentsearch/v1/search.proto"]
    subprocess.run(["protoc", f"--proto_path={PROTOS}", f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + files,
                   check=True)
    sys.path.insert(0, out_dir)


def create(stub, search_pb2, grpc, args):
    """CreateCollection, retried while the routers do not see enough nodes yet."""
    request = search_pb2.CreateCollectionRequest(
        name=args.collection, dim=args.dim, shards=args.shards,
        replication_factor=args.replication_factor)
    deadline = time.monotonic() + args.wait_seconds
    while True:
        try:
            return stub.CreateCollection(request, timeout=30)
        except grpc.RpcError as e:
            retry = e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)
            if not retry or time.monotonic() > deadline:
                raise
            print(f"CreateCollection: {e.code().name}: {e.details()} (retrying)", flush=True)
            time.sleep(1)


def populate(args):
    with tempfile.TemporaryDirectory() as gen:
        generate_stubs(gen)
        import grpc
        from latentsearch.v1 import search_pb2, search_pb2_grpc

        channel = grpc.insecure_channel(args.address)
        grpc.channel_ready_future(channel).result(timeout=args.wait_seconds)
        stub = search_pb2_grpc.SearchStub(channel)
        create(stub, search_pb2, grpc, args)
        rng = random.Random(args.seed)
        centres = [[rng.gauss(0, 3) for _ in range(args.dim)] for _ in range(10)]

        def batches():
            for first in range(0, args.items, 500):
                items = []
                for i in range(first, min(args.items, first + 500)):
                    c = centres[i % len(centres)]
                    items.append(search_pb2.Item(id=f"v{i}", vector=[x + rng.gauss(0, 1) for x in c],
                                                 label=i % len(centres)))
                yield search_pb2.UpsertRequest(collection=args.collection, items=items)

        ack = stub.Upsert(batches(), timeout=120)
        info = stub.GetCollection(search_pb2.GetCollectionRequest(name=args.collection),
                                  timeout=30)
        print(f"created '{args.collection}': {args.shards} shards x {args.replication_factor} "
              f"replicas, dim {args.dim}; upserted {ack.upserted}, the router counts "
              f"{info.item_count} items")
        if info.item_count != args.items:
            print(f"expected {args.items} items", file=sys.stderr)
            return 1
    return 0


def replicas_of(status, collection):
    """[(shard, node, state)] of the collection's replicas."""
    out = []
    for c in status.get("collections", []):
        if c.get("name") != collection:
            continue
        for s in c.get("shard_status", []):
            for r in s.get("replicas", []):
                out.append((s.get("shard", 0), r.get("node", ""), r.get("state", "")))
    return out


def check_status(args):
    status = json.load(sys.stdin)
    nodes = {n["address"]: bool(n.get("up", False)) for n in status.get("nodes", [])}
    replicas = replicas_of(status, args.collection)
    problems = []
    if not replicas:
        problems.append(f"no replicas of '{args.collection}' in the status")
    serving = "REPLICA_STATE_SERVING"
    if args.expect == "all-serving":
        problems += [f"node {n} is down" for n, up in nodes.items() if not up]
        problems += [f"shard {s} on {n}: {st}" for s, n, st in replicas if st != serving]
    elif args.expect.startswith("down:"):
        down = args.expect.split(":", 1)[1]
        if nodes.get(down, True):
            problems.append(f"node {down} is not reported down (nodes: {nodes})")
        for s, n, st in replicas:
            if n == down and st == serving:
                problems.append(f"shard {s} on the down node {n} is reported serving")
        for shard in sorted({s for s, _, _ in replicas}):
            if not any(s == shard and n != down and st == serving for s, n, st in replicas):
                problems.append(f"shard {shard} has no serving replica besides {down}")
    else:
        problems.append(f"--expect={args.expect}: expected all-serving or down:NODE")
    summary = ", ".join(f"{s}@{n}={st.replace('REPLICA_STATE_', '').lower()}"
                        for s, n, st in sorted(replicas))
    print(f"nodes up: {sorted(n for n, up in nodes.items() if up)}, down: "
          f"{sorted(n for n, up in nodes.items() if not up)}; replicas: {summary}")
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("populate")
    p.add_argument("--address", required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--items", type=int, default=3000)
    p.add_argument("--shards", type=int, default=3)
    p.add_argument("--replication_factor", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--wait_seconds", type=float, default=60)
    c = sub.add_parser("check-status")
    c.add_argument("--collection", required=True)
    c.add_argument("--expect", required=True)
    args = parser.parse_args()
    return populate(args) if args.command == "populate" else check_status(args)


if __name__ == "__main__":
    sys.exit(main())
