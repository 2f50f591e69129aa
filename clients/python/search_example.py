#!/usr/bin/python3
"""A small latentsearch client in Python: create a collection, upsert
vectors, search by vector and by item id.

Generates the Python stubs from protos/ on the fly (Debian's protoc and
grpc_python_plugin; python3-grpcio at run time), so it needs no build step:

    /usr/bin/python3 clients/python/search_example.py --address=127.0.0.1:50053
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOS = os.path.join(HERE, "..", "..", "protos")


def generate_stubs(out_dir):
    files = ["latentsearch/v1/common.proto", "latentsearch/v1/search.proto",
             "latentsearch/v1/encoder.proto", "latentsearch/v1/trainer.proto",
             "grpc/health/v1/health.proto"]
    subprocess.run(["protoc", f"--proto_path={PROTOS}", f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + files,
                   check=True)
    sys.path.insert(0, out_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default="127.0.0.1:50053")
    parser.add_argument("--collection", default="python-example")
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--wait_seconds", type=float, default=0,
                        help="wait up to this long for the server to come up")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as gen:
        generate_stubs(gen)
        import grpc
        from latentsearch.v1 import common_pb2, search_pb2, search_pb2_grpc

        channel = grpc.insecure_channel(args.address)
        if args.wait_seconds > 0:
            grpc.channel_ready_future(channel).result(timeout=args.wait_seconds)
        stub = search_pb2_grpc.SearchStub(channel)
        stub.CreateCollection(search_pb2.CreateCollectionRequest(
            name=args.collection, dim=args.dim, if_not_exists=True), timeout=10)

        rng = random.Random(1)
        vectors = {f"item-{i}": [rng.gauss(0, 1) for _ in range(args.dim)]
                   for i in range(args.items)}

        def batches():
            items = [search_pb2.Item(id=k, vector=v, label=i % 10, uri=f"example:{i}")
                     for i, (k, v) in enumerate(vectors.items())]
            for start in range(0, len(items), 64):
                yield search_pb2.UpsertRequest(collection=args.collection,
                                               items=items[start:start + 64])

        ack = stub.Upsert(batches(), timeout=30)
        print(f"upserted {ack.upserted} items; the collection holds {ack.item_count}")

        for metric in (common_pb2.METRIC_L1, common_pb2.METRIC_L2, common_pb2.METRIC_COSINE):
            resp = stub.Search(search_pb2.SearchRequest(
                collection=args.collection, vector=search_pb2.Vector(values=vectors["item-7"]),
                metric=metric, k=3), timeout=10)
            ids = ", ".join(f"{n.id} ({n.distance:.3f})" for n in resp.neighbors)
            print(f"{common_pb2.Metric.Name(metric)}: {ids}")
            if resp.neighbors[0].id != "item-7":
                print("unexpected: the query item is not its own nearest neighbour",
                      file=sys.stderr)
                return 1

        resp = stub.Search(search_pb2.SearchRequest(
            collection=args.collection, item_id="item-7", exclude_self=True, k=3,
            index_kind=common_pb2.INDEX_KIND_HNSW), timeout=10)
        print("item-7's neighbours (HNSW, itself excluded):",
              ", ".join(n.id for n in resp.neighbors),
              "(exact fallback)" if resp.exact_fallback else "")

        try:
            stub.Search(search_pb2.SearchRequest(collection=args.collection,
                                                 vector=search_pb2.Vector(values=[1.0])),
                        timeout=10)
        except grpc.RpcError as e:
            print(f"a wrong-dimension query is refused: {e.code().name}: {e.details()}")
            if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
